"""Work that runs after the answer without anyone awaiting it (pure asyncio: bookings, stream pumps)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

_background: set[asyncio.Task[Any]] = set()  # strong refs: a pending task must not be collected

# Pyodide's event loop runs every task step and every done callback as a JS timer callback, each through a new
# proxy: a task that never waits cost about 34 µs (bench/LEVERS.md). Started eagerly (Python 3.12+, the worker's
# 3.13), a coroutine runs at once up to its first real wait (a relay's pump: up to its pipe) without that first
# callback. CPython 3.11, which only the unit tests run on, schedules it as before.
_EAGER = sys.version_info >= (3, 12)


def background(coroutine: Coroutine[Any, Any, Any], *, now: bool = True) -> None:
    """Runs `coroutine` now, up to its first wait, and the rest on the event loop; nobody awaits it. `now=False`
    queues all of it behind what is already under way (a booking: after the answer's last bytes move on)."""
    if _EAGER and now:
        task = asyncio.Task(_kept(coroutine), loop=asyncio.get_event_loop(), eager_start=True)  # type: ignore[call-arg]
    else:
        task = asyncio.ensure_future(_kept(coroutine))
    if not task.done():  # one that ran to its end within the call has nothing to keep alive
        _background.add(task)


async def _kept(coroutine: Coroutine[Any, Any, Any]) -> None:
    """The task lets go of its own reference as it ends: no done callback, which would be one more callback."""
    try:
        await coroutine
    finally:
        _background.discard(asyncio.current_task())  # type: ignore[arg-type]
