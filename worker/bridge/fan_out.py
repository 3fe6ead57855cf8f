"""The edge's internal calls to the container instances' Durable Objects (never reachable from a client's path)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import js

from bridge.js_interop import BEHIND, binding, call_rpc, js_dict
from protocol import CONTAINER_BINDING, INSTANCE_HEADER, INTERNAL_METHOD


def containers_of(env: Any) -> Any | None:
    """The containers' Durable Object namespace as a JS object (its stubs then take and give JS), or None."""
    return binding(env, CONTAINER_BINDING)


async def ask_each(namespace: Any, names: list[str], path: str) -> list[dict[str, Any]]:
    """One internal call to each named instance at once, by Durable Object RPC: their answers, in the order of
    `names`. An instance still running the version before RPC (a deploy under way) is asked over `fetch`."""

    async def ask(name: str) -> dict[str, Any]:
        stub = namespace.get(namespace.idFromName(name))
        answer = await call_rpc(stub, INTERNAL_METHOD, {"instance": name, "path": path})
        if answer is not BEHIND:
            return answer
        request = js.Request.new(f"http://gateway{path}", js_dict({"headers": {INSTANCE_HEADER: name}}))
        response = await stub.fetch(request)
        return json.loads(str(await response.text()))

    return list(await asyncio.gather(*(ask(name) for name in names)))
