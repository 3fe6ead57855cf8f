"""Work that runs after the answer without anyone awaiting it (pure asyncio: bookings, stream pumps)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

_background: set[asyncio.Task[Any]] = set()  # strong refs: a pending task must not be collected


def background(coroutine: Coroutine[Any, Any, Any]) -> None:
    task = asyncio.ensure_future(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)
