"""Virtual keys at the edge: the key API, admission before forwarding, and what the booking needs (a thin
adapter).

The decisions live in the `keys` package (pure, CPython-tested). The edge admits a virtual key's request in
its object, then hands the container's Durable Object a ticket (keys.ticket) saying who pays; that object
sees the answer pass and books it (container.booking), so the edge never reads a body it passes on. A key with a
budget or a tpm_limit reserves each request's worst case at admission (keys.reservations), from what the edge
knows before the body (`need`); the body's output cap is then written to fit it (`output_cap`).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from pyodide.ffi import create_proxy, to_js
from workers import Response

from bridge.js_interop import binding, js_response_of
from bridge.responses import error_response, json_response, rewrapped
from durations import now_ms
from edge.model_choice import places
from edge.request_policy import OutputCap, cost_kind, operation
from keys import admin, client
from keys.client import Admission
from keys.material import token_of
from keys.reservations import INPUT, OUTPUT, Need
from keys.rpc import AskInstances, JsRpc
from keys.ticket import Ticket
from metering.charge import Outcome, charge_for
from protocol import DIRECTORY_BINDING, KEYS_BINDING
from rules import errors, json_scan
from rules.body_limit import Declared, judge_declared_length
from rules.routing import upstream_path

MODELS_PATH = "/v1/models"
OWNER_WAIT_S = 2.0  # how long a stored response's first follow-up waits for its creation to be booked
OWNER_RETRY_S = 0.05  # the first wait; each next one doubles, so a key that keeps missing costs ~5 calls, not 40


def keys_bound(env: Any) -> bool:
    """Keys need both bindings (wrangler.jsonc); without them only the master key works, unmetered."""
    return binding(env, KEYS_BINDING) is not None and binding(env, DIRECTORY_BINDING) is not None


def need(method: str, path: str, content_length: str | None, limit: int) -> Need:
    """What a request may cost, as known before its body is read: its endpoint, and its declared size."""
    declared = judge_declared_length(content_length, limit) is Declared.WITHIN
    return Need(cost_kind(method, upstream_path(path)), int(content_length) if declared else None)  # type: ignore[arg-type]


def output_cap(admission: Admission | None, method: str, path: str, query: str) -> OutputCap | None:
    """What the body's output cap must fit (None: nothing to cap, as for the master key or a key without a budget
    or tpm_limit). The models named in the path or query are priced with the body's."""
    target = upstream_path(path)
    if admission is None or admission.grant is None or cost_kind(method, target) not in (OUTPUT, INPUT):
        return None
    at = places(method, path, query)
    named = tuple(model for model in (at.path, *at.query) if model)
    return OutputCap(admission.grant, admission.prices, operation(target), named)


class KeyGate:
    def __init__(self, env: Any, ctx: Any, ask_instances: AskInstances | None = None,
                 mark_secret: str | None = None) -> None:
        self._rpc = JsRpc(env, ask_instances)
        self._ctx = ctx
        self._mark_secret = mark_secret

    async def admin(self, method: str, path: str, query: str, body: bytes | None, key: str | None,
                    is_master: bool, request_id: str) -> Response:
        caller = admin.Caller(is_master=is_master, token=None if is_master or not key else token_of(key),
                              mark_secret=self._mark_secret)
        answer = await admin.handle(method, path, query, body, caller, self._rpc, now_ms())
        if isinstance(answer, errors.GatewayError):
            return error_response(answer, request_id)
        return json_response(answer.body, answer.status)

    async def admit(self, key: str, model: str | None, need: Need | None = None,
                    request_id: str | None = None) -> Admission:
        return await client.admit(self._rpc, token_of(key), model, need, request_id)

    async def stored_model(self, key: str, admission: Admission, response_id: Any) -> str | None:
        """The model of a stored response `key` created (None: not its own). A response is recorded when its
        creation is booked, just after its last byte: while other requests of the key are in flight, a miss is
        asked again for up to OWNER_WAIT_S, so a client that follows up at once is not refused."""
        deadline, wait = time.monotonic() + OWNER_WAIT_S, OWNER_RETRY_S
        while True:
            model, pending = await client.owner(self._rpc, token_of(key), response_id, admission.lease)
            if model is not None or not pending or time.monotonic() >= deadline:
                return model
            await asyncio.sleep(wait)
            wait *= 2

    @staticmethod
    def ticket(key: str | None, admission: Admission | None, model: str | None, added_usage: bool,
               stores: bool) -> str:
        """What the container's Durable Object books the request under (`key` None: the master key); `stores`:
        the request creates a stored response, which becomes the key's."""
        return Ticket(None if key is None else token_of(key), admission.lease if admission else None, model,
                      added_usage, stores).header_value()

    @staticmethod
    async def shown(response: Any, admission: Admission, path: str) -> Any:
        """A virtual key's answer: with its rate-limit headers, and /v1/models listing only its models."""
        original = js_response_of(response)
        listed = admission.models and path == MODELS_PATH and original.status == 200
        if not listed and not admission.headers:  # a key without limits: nothing to add
            return response
        if listed:
            listing = client.visible_models(json_scan.loads(str(await original.text())), admission.models)
            answer = rewrapped(original, to_js(json.dumps(listing).encode()))
            answer.headers.delete("content-length")
        else:
            answer = rewrapped(original, original.body)
        for name, value in admission.headers.items():
            answer.headers.set(name, value)
        return answer

    def book_failed(self, key: str, admission: Admission, model: str | None, error: errors.GatewayError,
                    request_id: str) -> None:
        """A virtual key's request refused after its admission, or that never got an answer from the container's
        Durable Object: booked as one failed request (noted with `error` in its recent requests), which frees its
        lease at once."""
        failed = charge_for(model, None, Outcome(error.status, error.code, request_id))
        task = asyncio.ensure_future(client.book(self._rpc, token_of(key), admission.lease, failed))
        proxy = create_proxy(task)
        task.add_done_callback(lambda _: proxy.destroy())
        self._ctx.waitUntil(proxy)  # after the client's answer, never before it
