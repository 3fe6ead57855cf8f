"""One request to LiteLLM and its answer back, both as streams: headers, body budget, error mapping, in-flight.

The Durable Object hands in how to send (its container's TCP port, or an existing LiteLLM's URL); this module
never buffers a body and always releases its in-flight count, whichever way the request ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import js
from pyodide.ffi import JsException
from workers import Response

import errors
from body_limit import ByteBudget, Declared, judge_declared_length
from content_types import is_json
from header_policy import client_response_headers, forwarded_request_headers
from js_interop import header, iter_headers, js_dict, make_headers, present
from jsonlog import EventLog
from responses import error_response
from streams import limited, on_finish

Send = Callable[[str, Any], Any]  # (path + query, JS RequestInit) -> promise of a JS Response


def now_ms() -> int:
    return int(time.time() * 1000)


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


async def proxy(send: Send, request: Any, target: str, request_id: str, litellm_key: str, max_request_bytes: int,
                log: EventLog, on_done: Callable[[], None]) -> Response:
    """Forwards `request` to `target` (path + query); `on_done` runs once it is over, on every path."""
    incoming = request.js_object
    init: dict[str, Any] = {
        "method": incoming.method,
        "headers": make_headers(forwarded_request_headers(iter_headers(incoming.headers), litellm_key, request_id)),
        "redirect": "manual",
    }
    budget: ByteBudget | None = None
    if present(incoming.body):
        body = incoming.body
        if judge_declared_length(header(incoming.headers, "content-length"), max_request_bytes) is Declared.UNKNOWN:
            budget = ByteBudget(max_request_bytes)  # chunked upload: count it on the way through
            body = limited(body, budget)
        init["body"] = body
        init["duplex"] = "half"
    try:
        upstream = await send(target, js_dict(init))
    except JsException as exc:
        on_done()
        if budget is not None and budget.exceeded:
            return error_response(errors.request_too_large(max_request_bytes), request_id)
        # The error's class only: its message can name the upstream's address.
        log.emit("warning", "upstream_lost", request_id=request_id, error=type(exc).__name__)
        return error_response(errors.upstream_unreachable(), request_id)

    if upstream.status >= 400 and not is_json(header(upstream.headers, "content-type")):
        # LiteLLM's unhandled errors are plain text; clients get the OpenAI shape, same status.
        if present(upstream.body):
            await upstream.body.cancel()
        on_done()
        return error_response(errors.upstream_error(upstream.status), request_id)
    headers = make_headers(client_response_headers(iter_headers(upstream.headers), request_id))
    body = upstream.body
    if present(body):
        body = on_finish(body, on_done)  # in flight until the client has the last byte
    else:
        on_done()
    return Response(js.Response.new(body, js_dict({
        "status": upstream.status, "statusText": upstream.statusText, "headers": headers,
    })))
