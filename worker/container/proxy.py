"""One request to LiteLLM and its answer back, both as streams: headers, body budget, deadlines, error mapping.

The Durable Object hands in how to send (its container's TCP port, or an existing LiteLLM's URL). Bodies are
never buffered (but for LiteLLM's small error answers, which are scrubbed), every request has an absolute
deadline and a stream an idle bound, and `on_done` (the in-flight count) runs exactly once on every path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import js
from pyodide.ffi import JsException, to_js
from workers import Response

from bridge.js_interop import header, iter_headers, js_dict, make_headers, present
from bridge.responses import error_response, rewrapped
from bridge.streams import limited, relay
from container.exchange import Exchange, Limits, Meter, Transport
from container.upstream_errors import MAX_ERROR_BODY_BYTES, rewrite
from jsonlog import EventLog
from metering.charge import MODEL_GROUP_HEADER
from metering.pricing import COST_HEADER
from metering.usage import USAGE_WAIT_S
from rules import errors
from rules.body_limit import ByteBudget, Declared, judge_declared_length
from rules.content_types import is_json, media_type
from rules.errors import Dialect
from rules.header_policy import client_response_headers, forwarded_request_headers


async def proxy(send: Transport, litellm_key: str, request: Any, target: str, request_id: str, limits: Limits,
                dialect: Dialect, log: EventLog, on_done: Callable[[], None], meter: Meter | None) -> Response:
    """Forwards `request` to `target` (path + query); what each turn means is container.exchange's: `on_done`
    runs once it is over, on every path, and `meter` (when the request is booked) books it then."""
    incoming = request.js_object
    controller = js.AbortController.new()  # ours: body over budget, stream idle
    deadline = js.AbortSignal.timeout(limits.max_request_seconds * 1000)  # a JS timer: no Python task
    signals = [controller.signal, deadline]
    client_gone = getattr(incoming, "signal", None)  # fires when the client leaves (workerd: mid-body only)
    if present(client_gone):
        signals.append(client_gone)
    exchange = Exchange(request_id, limits, dialect, log, on_done, meter)

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
        error = exchange.unanswered(budget is not None and budget.exceeded, bool(deadline.aborted),
                                    type(exc).__name__)
        return error_response(error, request_id, dialect)

    if upstream.status >= 400:
        return await _error_answer(upstream, request_id, dialect, lambda: exchange.release(upstream.status))
    pairs = iter_headers(upstream.headers)
    headers = make_headers(client_response_headers(pairs, request_id))
    body = upstream.body
    if not present(body):
        exchange.release(upstream.status)
        return Response(rewrapped(upstream, None, headers))
    # Read from the pairs already in Python, not one crossing each: JS Headers iterate lower-case names, repeated
    # ones joined as `get` joins them (but Set-Cookie, which is not read here).
    named = dict(pairs)
    content_type = named.get("content-type")
    sse = media_type(content_type) == "text/event-stream"
    idle = exchange.watch_idle(lambda: controller.abort()) if sse else None
    # An upload's size is known once LiteLLM answers: it reads the whole body first.
    request_bytes = declared_bytes if budget is None else budget.seen
    observer = None if meter is None else meter.observe(content_type, named.get(COST_HEADER),
                                                        named.get(MODEL_GROUP_HEADER), request_bytes)

    def on_end(failed: bool) -> bytes | None:
        return exchange.body_ended(upstream.status, failed, bool(deadline.aborted), sse)

    relayed = relay(body, idle.touch if idle else None, on_end, observer, USAGE_WAIT_S)
    return Response(rewrapped(upstream, relayed, headers))


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
