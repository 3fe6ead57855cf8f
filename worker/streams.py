"""Body streams that pass through the gateway: observed in flight, never buffered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import js
from pyodide.ffi import JsException, create_proxy

from body_limit import ByteBudget
from js_interop import js_dict

_background: set[asyncio.Task] = set()  # strong refs: a pending task must not be collected


def _after(promise: Any, callback: Callable[[], None]) -> None:
    async def wait() -> None:
        try:
            await promise
        except JsException:
            pass  # the stream was cancelled or errored; the callback runs either way
        finally:
            callback()

    task = asyncio.ensure_future(wait())
    _background.add(task)
    task.add_done_callback(_background.discard)


def limited(body: Any, budget: ByteBudget) -> Any:
    """Passes chunks on while the budget holds; errors the stream (failing the upload) once it is spent."""

    def transform(chunk: Any, controller: Any) -> None:
        if budget.consume(chunk.byteLength):
            controller.enqueue(chunk)
        else:
            controller.error(js.Error.new("request body over the limit"))

    proxy = create_proxy(transform)
    pipe = js.TransformStream.new(js_dict({"transform": proxy}))
    _after(body.pipeTo(pipe.writable), proxy.destroy)
    return pipe.readable


def on_finish(body: Any, callback: Callable[[], None]) -> Any:
    """The same bytes as `body`; `callback` runs once the client has read it all or went away."""
    pipe = js.TransformStream.new()  # identity: chunks pass through JS, never into Python
    _after(body.pipeTo(pipe.writable), callback)
    return pipe.readable
