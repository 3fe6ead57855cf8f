"""Body streams that pass through the gateway: observed in flight, never buffered."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, Protocol

import js
from pyodide.ffi import JsException, create_proxy, to_js

from bridge.js_interop import js_dict, present
from rules.body_limit import ByteBudget
from tasks import background

_REASONS: dict[str, Any] = {}


def _reason(why: str) -> Any:
    """A JS Error to cancel a stream with (a bare cancel() rejects with `undefined`, which Pyodide cannot raise):
    one per message and isolate, as a new one captures its stack through the Wasm frames (~40 µs in Node;
    bench/LEVERS.md). Nothing writes to it; it only travels to the cancelled stream's source."""
    error = _REASONS.get(why)
    if error is None:
        error = _REASONS[why] = js.Error.new(why)
    return error


async def cancel_reader(reader: Any, why: str) -> None:
    """Stops reading a request body the edge refused: the rest is never pulled from the client."""
    with contextlib.suppress(JsException):
        await reader.cancel(_reason(why))


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
    `flush` gives what is left once the body is over (only asked when `holds_back`); `awaiting_usage`: the answer
    is over but the usage that follows it is still to come, so the rest is worth reading even with the client gone."""

    holds_back: bool

    def feed(self, chunk: bytes) -> bytes | None: ...

    def flush(self) -> bytes: ...

    @property
    def awaiting_usage(self) -> bool: ...


_RELAY_PIPE: Any = None


def _relay_pipe_options() -> Any:
    """One JS options object per isolate: pipeTo reads it when called and keeps no reference to it."""
    global _RELAY_PIPE
    if _RELAY_PIPE is None:
        _RELAY_PIPE = js_dict({"preventAbort": True, "preventCancel": True})
    return _RELAY_PIPE


def relay(body: Any, on_chunk: Callable[[], None] | None, on_end: Callable[[bool], bytes | None],
          observer: Observer | None = None, read_on_s: float = 0.0) -> Any:
    """The bytes of `body`, for the client; `on_end(upstream_failed)` runs once it is over.

    `on_chunk` (when given) sees each chunk go by without copying it into Python; `observer` (when given)
    reads each one (and may rewrite it). When the upstream fails mid-body (lost, or aborted by a
    deadline), `on_end` may return final bytes — an error event in the API's own format — which are written
    before the stream is closed cleanly, instead of a truncated body. When the client leaves, the upstream is
    cancelled, unless the observer is `awaiting_usage`: then it is read on, for the observer alone, for at
    most `read_on_s` (a client that closes on `finish_reason` has had the whole answer; its usage comes next).
    `on_end` runs after that, so what it books includes what was read on.
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

        handlers = {"transform": create_proxy(transform)}
        if observer is not None and observer.holds_back:  # one proxy less for a JSON answer (bench/LEVERS.md)
            handlers["flush"] = create_proxy(at_end)
        proxies = list(handlers.values())
        pipe = js.TransformStream.new(js_dict(handlers))

    async def pump() -> None:
        failed = False
        try:
            # preventAbort: an upstream failure leaves the client's side open for the closing bytes.
            # preventCancel: a client that leaves does not stop the upstream by itself; that is decided below.
            await body.pipeTo(pipe.writable, _relay_pipe_options())
        except JsException:
            failed = True  # the upstream failed, or the client left: told apart below
        try:
            # Whatever ended the pipe (workerd was seen to resolve it when the client leaves): an ended or
            # failed body reads as over at once, one whose client left is read on or stopped here.
            if observer is not None and observer.awaiting_usage:
                await _read_on(body, observer, read_on_s)
            elif failed:
                with contextlib.suppress(JsException):
                    await body.cancel(_reason("the client has gone"))
            else:
                # Not awaited: a body that ended, or one still open, resolves its cancel (only an errored one
                # rejects, and its pipe would have failed), and each await of a JS promise is two event-loop
                # timer callbacks on every answer (bench/LEVERS.md).
                body.cancel(_reason("the client has gone"))
            writer = pipe.writable.getWriter() if failed else None
            # The client's side errored: the client left, which is no upstream failure to tell anyone about.
            failed = writer is not None and present(writer.desiredSize)
            closing = on_end(failed)
            if writer is not None and failed:
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


async def _read_on(body: Any, observer: Observer, seconds: float) -> None:
    """The rest of a body for the observer alone (its client has gone, or the body is over), until the observer
    has its usage, the body ends or fails, or `seconds` have passed; then the upstream is stopped."""
    reader = body.getReader()
    until = time.monotonic() + seconds
    try:
        while observer.awaiting_usage and (left := until - time.monotonic()) > 0:
            step = await asyncio.wait_for(reader.read(), left)
            if step.done:
                return
            observer.feed(step.value.to_bytes())  # for nobody: what it returns has no reader
    except (TimeoutError, JsException):
        pass  # the wait is over, or the upstream failed: booked with what came
    finally:
        with contextlib.suppress(JsException):
            await reader.cancel(_reason("the client has gone"))
