"""Which Durable Object (and so which container) serves a request.

Sticky when the client names an affinity key (same key, same instance: provider prompt caches
stay warm); otherwise spread evenly. The trade-off: a hot key pins its load to one instance.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from rules.request_ids import sanitize_request_id

INSTANCE_PREFIX = "litellm-"

_spread = itertools.count()


def instance_names(count: int) -> list[str]:
    return [f"{INSTANCE_PREFIX}{index}" for index in range(max(1, count))]


def pick_instance(count: int, affinity_key: str | None) -> str:
    """The instance name for a request; `affinity_key` is the client's x-session-affinity header."""
    if count <= 1:
        return f"{INSTANCE_PREFIX}0"
    key = sanitize_request_id(affinity_key)  # same sanity rules as ids: bounded, printable
    if key is not None:
        digest = hashlib.sha256(key.encode("utf-8")).digest()
        index = int.from_bytes(digest[:8], "big") % count
    else:
        index = next(_spread) % count
    return f"{INSTANCE_PREFIX}{index}"


def is_warm_floor(name: str | None, min_warm: int) -> bool:
    """True for the instances MIN_WARM_INSTANCES keeps running: the first `min_warm` by index."""
    if not name or not name.startswith(INSTANCE_PREFIX) or not name[len(INSTANCE_PREFIX):].isdigit():
        return False
    return int(name[len(INSTANCE_PREFIX):]) < min_warm


def siblings(name: str, count: int) -> list[str]:
    """The other instances, in order after `name` (so load spreads when several are cold)."""
    names = instance_names(count)
    start = names.index(name) if name in names else 0
    return names[start + 1:] + names[:start]


async def warm_first(send: Callable[..., Awaitable[Any]], is_cold: Callable[[Any], bool], name: str,
                     count: int) -> tuple[str, Any]:
    """Warm-sibling routing: a request that lands on a cold instance is served by a ready sibling while its own
    instance boots (`send(name, "boot")` starts it; `"peek"` only asks); only when none is ready does it wait for
    that boot (`send(name)`). The warm path is one call. Returns who served, and the answer."""
    response = await send(name, "boot")
    if not is_cold(response):
        return name, response
    for sibling in siblings(name, count):
        response = await send(sibling, "peek")
        if not is_cold(response):
            return sibling, response
    return name, await send(name)
