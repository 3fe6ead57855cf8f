"""Body streams that pass through the gateway: observed in flight, never buffered."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Protocol

import js
from pyodide.ffi import JsException, create_proxy, to_js

from body_limit import ByteBudget
from js_interop import js_dict

_background: set[asyncio.Task] = set()  # strong refs: a pending task must not be collected


def background(coroutine: Any) -> None:
    task = asyncio.ensure_future(coroutine)
    _background.add(task)
    task.add_done_callback(_background.discard)


def limited(body: Any, budget: ByteBudget, on_exceeded: Callable[[], None], *, quiet: bool = False) -> Any:
    """Passes chunks on while the budget holds; once it is spent, `on_exceeded` runs and the body is read no more.

    By default the stream then errors: a JS reader learns that the body was cut. `quiet` is for a stream sent as
    a fetch's body, which `on_exceeded` must abort: it then gets no error and no end. An error would not stop the
    upload (workerd ends it cleanly, truncated, and the upstream answers a request it should never have seen) and
    workerd logs it as an uncaught exception; an end could let a truncated body through, should the abort lag.
    """
    stop = js.AbortController.new()  # quiet: ends the pipe below without touching the stream it feeds

    def transform(chunk: Any, controller: Any) -> None:
        if budget.consume(chunk.byteLength):
            controller.enqueue(chunk)
            return
        on_exceeded()
        if quiet:
            stop.abort(js.Error.new("request body over the limit"))
        else:
            controller.error(js.Error.new("request body over the limit"))

    proxy = create_proxy(transform)
    pipe = js.TransformStream.new(js_dict({"transform": proxy}))

    async def pump() -> None:
        try:
            # preventAbort (quiet): stopping the pipe must leave the fetch's body as it is.
            await body.pipeTo(pipe.writable, js_dict({"signal": stop.signal, "preventAbort": quiet}))
        except JsException as failure:
            if quiet and not budget.exceeded:  # the client's body failed: so does the fetch's, as without preventAbort
                with contextlib.suppress(JsException):
                    await pipe.writable.abort(failure)
        finally:
            proxy.destroy()

    background(pump())
    return pipe.readable


async def read_bounded(body: Any, limit: int) -> Any | None:
    """The whole request body as a JS ArrayBuffer, or None once it is over `limit` (nothing more is read)."""
    budget = ByteBudget(limit)
    try:
        return await js.Response.new(limited(body, budget, lambda: None)).arrayBuffer()
    except JsException:
        if budget.exceeded:
            return None
        raise


class Observer(Protocol):
    """Watches a body on its way: `feed` returns None to pass a chunk as is, or the bytes to send instead;
    `flush` gives what is left once the body is over."""

    def feed(self, chunk: bytes) -> bytes | None: ...

    def flush(self) -> bytes: ...


def relay(body: Any, on_chunk: Callable[[], None] | None, on_end: Callable[[bool], bytes | None],
          observer: Observer | None = None) -> Any:
    """The bytes of `body`, for the client; `on_end(upstream_failed)` runs once it is over.

    `on_chunk` (when given) sees each chunk go by without copying it into Python; `observer` (when given)
    reads each one (and may rewrite it). When the upstream fails mid-body (lost, or aborted by a
    deadline), `on_end` may return final bytes — an error event in the API's own format — which are written
    before the stream is closed cleanly, instead of a truncated body.
    """
    proxies: list[Any] = []
    if on_chunk is None and observer is None:
        pipe = js.TransformStream.new()  # identity: chunks never cross into Python
    else:
        def transform(chunk: Any, controller: Any) -> None:
            if on_chunk is not None:
                on_chunk()
            if observer is None:
                controller.enqueue(chunk)
                return
            seen = chunk.to_bytes()
            out = observer.feed(seen)
            if out is None or out == seen:  # unchanged: the JS chunk moves on, no copy back
                controller.enqueue(chunk)
            elif out:
                controller.enqueue(to_js(out))

        def at_end(controller: Any) -> None:
            tail = b"" if observer is None else observer.flush()
            if tail:
                controller.enqueue(to_js(tail))

        proxies = [create_proxy(transform), create_proxy(at_end)]
        pipe = js.TransformStream.new(js_dict({"transform": proxies[0], "flush": proxies[1]}))

    async def pump() -> None:
        failed = False
        try:
            # preventAbort: an upstream failure leaves the client's side open for the closing bytes.
            await body.pipeTo(pipe.writable, js_dict({"preventAbort": True}))
        except JsException:
            failed = True
        try:
            closing = on_end(failed)
            if failed:
                writer = pipe.writable.getWriter()
                if closing:
                    await writer.write(to_js(closing))
                await writer.close()
        except JsException:
            pass  # the client is gone too: nothing left to tell it
        finally:
            for proxy in proxies:
                proxy.destroy()

    background(pump())
    return pipe.readable
