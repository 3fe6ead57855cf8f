"""Virtual keys at the edge: the key API, admission before forwarding, metering after (a thin adapter).

The decisions live in the `keys` package (pure, CPython-tested); this module moves requests and response
bytes between the edge and the keys' Durable Objects. Booking a request never delays the client: it runs
in `ctx.waitUntil` once the last byte has gone.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import js
from pyodide.ffi import create_proxy, to_js
from workers import Response

import errors
from content_types import media_type
from durations import now_ms
from js_interop import header, js_response_of, present
from keys import admin, gate
from keys.edge_rpc import DIRECTORY_BINDING, KEYS_BINDING, JsRpc
from keys.gate import Admission
from keys.limits import Refusal
from keys.material import token_of
from keys.pricing import COST_HEADER, PRICES_TTL_MS, Price, request_cost
from keys.usage import JsonUsage, SseUsage, Usage
from responses import json_response, rewrapped
from streams import metered

MODELS_PATH = "/v1/models"
PriceSource = Callable[[], Awaitable[Any]]  # asks a LiteLLM instance for its prices: a JS Response of JSON

_prices: tuple[int, dict[str, Price]] = (0, {})  # per isolate: (valid until ms, per-token prices by model)


def keys_bound(env: Any) -> bool:
    """Keys need both bindings (wrangler.jsonc); without them only the master key works, unmetered."""
    return getattr(env, KEYS_BINDING, None) is not None and getattr(env, DIRECTORY_BINDING, None) is not None


def refusal_error(refusal: Refusal, model: str | None) -> errors.GatewayError:
    """The key object's verdict as the error the edge answers (errors.py is the one table of them)."""
    if refusal.code == "key_blocked":
        return errors.key_blocked()
    if refusal.code == "key_expired":
        return errors.key_expired()
    if refusal.code == "model_not_allowed":
        return errors.model_not_allowed(model or "")
    if refusal.code == "insufficient_quota":
        return errors.insufficient_quota(refusal.message, refusal.retry_after_s)
    if refusal.code == "rate_limit_exceeded":
        return errors.rate_limit_exceeded(refusal.message, refusal.type, refusal.retry_after_s)
    return errors.invalid_api_key()


class KeyGate:
    def __init__(self, env: Any, ctx: Any) -> None:
        self._rpc = JsRpc(env)
        self._ctx = ctx

    async def admin(self, method: str, path: str, query: str, body: bytes | None, key: str | None,
                    is_master: bool) -> Response:
        caller = admin.Caller(is_master=is_master, token=None if is_master or not key else token_of(key))
        answer = await admin.handle(method, path, query, body, caller, self._rpc, now_ms())
        return json_response(answer.body, answer.status)

    async def admit(self, key: str, model: str | None) -> Admission:
        return await gate.admit(self._rpc, token_of(key), model)

    async def meter(self, response: Any, key: str | None, admission: Admission | None, model: str | None,
                    added_usage: bool, path: str, prices: PriceSource) -> Response:
        """The response for the client, with the key's rate-limit headers, booked once its body is over."""
        original = js_response_of(response)
        headers = js.Headers.new(original.headers)
        for name, value in (admission.headers if admission else {}).items():
            headers.set(name, value)
        token = None if key is None else token_of(key)
        lease = admission.lease if admission else None
        cost_header = header(original.headers, COST_HEADER)
        headers.delete(COST_HEADER)  # read for the booking; LiteLLM's internals stay out of the client's view
        status = int(original.status)
        body = original.body
        if admission and admission.models and path == MODELS_PATH and status == 200:
            listing = gate.visible_models(json.loads(str(await original.text())), admission.models)
            headers.delete("content-length")
            body = to_js(json.dumps(listing).encode())
            self._book(token, lease, model, None, cost_header, prices, failed=False)
        elif present(body) and status < 400:
            if media_type(header(original.headers, "content-type")) == "text/event-stream":
                sse = SseUsage(strip_added_usage=added_usage)
                usage_of, feed, flush = sse.usage, sse.feed, sse.flush
            else:
                whole = JsonUsage()

                def feed(chunk: bytes) -> None:
                    whole.feed(chunk)  # observed only: the chunk itself moves on untouched

                usage_of, flush = whole.usage, lambda: b""

            # A client that leaves mid-stream is booked with what went by (usage comes last, so often none).
            body = metered(body, feed, flush, lambda _failed: self._book(
                token, lease, model, usage_of(), cost_header, prices, failed=False))
        else:
            self._book(token, lease, model, None, cost_header, prices, failed=status >= 400)
        return Response(rewrapped(original, body, headers))

    def book_failed(self, key: str | None, admission: Admission | None, model: str | None) -> None:
        """A request that never got an answer from LiteLLM: one failed request, its lease freed."""
        self._book(None if key is None else token_of(key), admission.lease if admission else None, model, None,
                   None, None, failed=True)

    def _book(self, token: str | None, lease: str | None, model: str | None, usage: Usage | None,
              cost_header: str | None, prices: PriceSource | None, failed: bool) -> None:
        task = asyncio.ensure_future(self._finish(token, lease, model, usage, cost_header, prices, failed))
        proxy = create_proxy(task)
        task.add_done_callback(lambda _: proxy.destroy())
        self._ctx.waitUntil(proxy)  # after the client's last byte, never before it

    async def _finish(self, token: str | None, lease: str | None, model: str | None, usage: Usage | None,
                      cost_header: str | None, prices: PriceSource | None, failed: bool) -> None:
        counted = usage or Usage()
        cost = request_cost(cost_header, model, counted, {})
        if cost == 0 and counted.total_tokens > 0 and prices is not None:  # no cost from LiteLLM, as on streams
            cost = request_cost(cost_header, model, counted, await _price_table(prices))
        await gate.finish(self._rpc, token, lease, model, usage, cost, failed)


async def _price_table(source: PriceSource) -> dict[str, Price]:
    global _prices
    if now_ms() < _prices[0]:
        return _prices[1]
    answer = await source()
    table = {name: Price(*pair) for name, pair in json.loads(str(await answer.text())).items()}
    if table:
        _prices = (now_ms() + PRICES_TTL_MS, table)
    return table
