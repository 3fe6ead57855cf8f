"""One request to LiteLLM and its answer back, both as streams: headers, body budget, deadlines, error mapping.

The Durable Object hands in how to send (its container's TCP port, or an existing LiteLLM's URL). Bodies are
never buffered (but for LiteLLM's small error answers, which are scrubbed), every request has an absolute
deadline and a stream an idle bound, and `on_done` (the in-flight count) runs exactly once on every path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import js
from pyodide.ffi import JsException, to_js
from workers import Response

from bridge.js_interop import header, iter_headers, js_dict, make_headers, present
from bridge.responses import error_response, rewrapped
from bridge.streams import Observer, limited, relay
from container.upstream_errors import MAX_ERROR_BODY_BYTES, rewrite
from durations import now_ms
from jsonlog import EventLog
from metering.charge import MODEL_GROUP_HEADER
from metering.pricing import COST_HEADER
from metering.usage import USAGE_WAIT_S
from rules import errors
from rules.body_limit import ByteBudget, Declared, judge_declared_length
from rules.content_types import is_json, media_type
from rules.errors import Dialect
from rules.header_policy import client_response_headers, forwarded_request_headers

Send = Callable[[str, Any], Any]  # (path + query, JS RequestInit) -> promise of a JS Response


class Activity:
    """Requests in flight and the last time one began or ended: what the idle stop decides on."""

    def __init__(self) -> None:
        self.inflight = 0
        self.last_ms = now_ms()

    def begin(self) -> None:
        self.inflight += 1
        self.last_ms = now_ms()

    def end(self) -> None:
        self.inflight -= 1
        self.last_ms = now_ms()


class Meter(Protocol):
    """Books the request (container.booking.Booking): sees a successful answer's body, then its end, once."""

    def observe(self, content_type: str | None, cost_header: str | None, model_group: str | None,
                request_bytes: int) -> Observer | None: ...

    def book(self, status: int, code: str | None = None) -> None: ...


@dataclass(frozen=True)
class Limits:
    max_request_bytes: int
    max_request_seconds: int  # absolute deadline, headers and body included
    stream_idle_seconds: int  # longest silence inside a response body


class IdleGuard:
    """Aborts a response body that has been silent for STREAM_IDLE_SECONDS (streams only: a JSON answer is
    bounded by the deadline alone). One timer per stream, re-armed lazily: chunks only note the time."""

    def __init__(self, idle_s: int, abort: Callable[[], None]) -> None:
        self._idle_s = idle_s
        self._abort = abort
        self._last = time.monotonic()
        self.tripped = False
        self._task = asyncio.ensure_future(self._run())

    def touch(self) -> None:
        self._last = time.monotonic()

    def stop(self) -> None:
        self._task.cancel()  # no timer outlives its stream

    async def _run(self) -> None:
        while (wait := self._last + self._idle_s - time.monotonic()) > 0:
            await asyncio.sleep(wait + 0.01)
        self.tripped = True
        self._abort()


async def proxy(send: Send, request: Any, target: str, request_id: str, litellm_key: str, limits: Limits,
                dialect: Dialect, log: EventLog, on_done: Callable[[], None], meter: Meter | None) -> Response:
    """Forwards `request` to `target` (path + query); `on_done` runs once it is over, on every path, and
    `meter` (when the request is booked) books it then: failed when LiteLLM was not reached or answered an
    error."""
    incoming = request.js_object
    controller = js.AbortController.new()  # ours: body over budget, stream idle
    deadline = js.AbortSignal.timeout(limits.max_request_seconds * 1000)  # a JS timer: no Python task
    signals = [controller.signal, deadline]
    client_gone = getattr(incoming, "signal", None)  # fires when the client leaves (workerd: mid-body only)
    if present(client_gone):
        signals.append(client_gone)
    idle: IdleGuard | None = None
    released = False

    def release(status: int, code: str | None = None) -> None:
        """Once, on every path: with the status the client got and the gateway's error code, if any."""
        nonlocal released
        if not released:
            released = True
            if idle is not None:
                idle.stop()
            on_done()
            if meter is not None:
                meter.book(status, code)

    init: dict[str, Any] = {
        "method": incoming.method,
        "headers": make_headers(forwarded_request_headers(iter_headers(incoming.headers), litellm_key, request_id)),
        "redirect": "manual",
        "signal": js.AbortSignal.any(to_js(signals)),
    }
    budget: ByteBudget | None = None
    declared_bytes = 0  # the request body's size, for a booking that must estimate (metering.usage.estimate)
    if present(incoming.body):
        body = incoming.body
        length = header(incoming.headers, "content-length")
        declared = judge_declared_length(length, limits.max_request_bytes)
        if declared is Declared.UNKNOWN:
            budget = ByteBudget(limits.max_request_bytes)  # chunked upload: count it on the way through
            body = limited(body, budget, lambda: controller.abort(), quiet=True)
        elif declared is Declared.WITHIN:
            declared_bytes = int(length)  # type: ignore[arg-type]
        init["body"] = body
        init["duplex"] = "half"
    try:
        upstream = await send(target, js_dict(init))
    except JsException as exc:
        if budget is not None and budget.exceeded:
            error = errors.request_too_large(limits.max_request_bytes)
        elif deadline.aborted:
            log.emit("warning", "request_deadline", request_id=request_id)
            error = errors.deadline_exceeded(limits.max_request_seconds)
        else:  # the error's class only: its message can name the upstream's address
            log.emit("warning", "upstream_lost", request_id=request_id, error=type(exc).__name__)
            error = errors.upstream_unreachable()
        release(error.status, error.code)
        return error_response(error, request_id, dialect)

    if upstream.status >= 400:
        return await _error_answer(upstream, request_id, dialect, lambda: release(upstream.status))
    headers = make_headers(client_response_headers(iter_headers(upstream.headers), request_id))
    body = upstream.body
    if not present(body):
        release(upstream.status)
        return Response(rewrapped(upstream, None, headers))
    content_type = header(upstream.headers, "content-type")
    sse = media_type(content_type) == "text/event-stream"
    if sse:
        idle = IdleGuard(limits.stream_idle_seconds, lambda: controller.abort())
    # An upload's size is known once LiteLLM answers: it reads the whole body first.
    request_bytes = declared_bytes if budget is None else budget.seen
    observer = None if meter is None else meter.observe(content_type, header(upstream.headers, COST_HEADER),
                                                        header(upstream.headers, MODEL_GROUP_HEADER), request_bytes)

    def on_end(failed: bool) -> bytes | None:
        release(upstream.status, "stream_interrupted" if failed else None)  # booked with what went by
        if not failed:
            return None
        why = "deadline" if deadline.aborted else "idle" if idle is not None and idle.tripped else "lost"
        log.emit("warning", "stream_interrupted", request_id=request_id, why=why)
        return _error_event(errors.stream_interrupted(_INTERRUPTED[why]), dialect) if sse else None

    relayed = relay(body, idle.touch if idle else None, on_end, observer, USAGE_WAIT_S)
    return Response(rewrapped(upstream, relayed, headers))


_INTERRUPTED = {"deadline": "MAX_REQUEST_SECONDS reached", "idle": "no data for STREAM_IDLE_SECONDS",
                "lost": "the connection to LiteLLM was lost"}


def _error_event(error: errors.GatewayError, dialect: Dialect) -> bytes:
    """The last event of an interrupted stream, as each API's SDKs parse one."""
    if dialect is Dialect.ANTHROPIC:
        return f"event: error\ndata: {error.body(dialect)}\n\n".encode()
    return f"data: {error.body(dialect)}\n\n".encode()


async def _error_answer(upstream: Any, request_id: str, dialect: Dialect, release: Callable[[], None]) -> Response:
    """LiteLLM's error, read (it is small), scrubbed of internals, with its status (or 400 for its rejections)."""
    try:
        declared = header(upstream.headers, "content-length")
        rewritten = None
        if is_json(header(upstream.headers, "content-type")) and (declared is None or (
                declared.isdigit() and int(declared) <= MAX_ERROR_BODY_BYTES)):
            raw = (await upstream.arrayBuffer()).to_bytes()
            rewritten = rewrite(upstream.status, raw[:MAX_ERROR_BODY_BYTES])
        elif present(upstream.body):
            await upstream.body.cancel(js.Error.new("not passed on"))
    except JsException:
        rewritten = None
    finally:
        release()
    if rewritten is None:  # plain text, or unreadable: the status in our own shape
        return error_response(errors.upstream_error(upstream.status), request_id, dialect)
    status, body = rewritten
    pairs = [(n, v) for n, v in client_response_headers(iter_headers(upstream.headers), request_id)
             if n.lower() != "content-length"]
    return Response(js.Response.new(to_js(body), js_dict({"status": status, "headers": make_headers(pairs)})))
