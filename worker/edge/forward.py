"""One client request on its way to a container instance: the Pyodide shell of edge.plan.

It reads the facts off the JS request, asks edge.plan (and the key objects, through edge.key_gate) in order, and
does what they say: who asks, then admission, then framing and the body, then the one model, then the instance.
A refusal after admission frees it (booked as one failed request). Nothing unauthenticated is forwarded.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import js
from pyodide.ffi import JsException
from workers import Response

from bridge.fan_out import containers_of
from bridge.js_interop import header, js_dict, js_response_of, present
from bridge.responses import error_response, with_headers
from edge.body_reader import JsonBody, read_json
from edge.form_reader import read_upload
from edge.key_gate import KeyGate, keys_bound, need, output_cap
from edge.model_choice import RESPONSES_PATH, Places, decide, pinned, places
from edge.plan import Body, caller_of, destination, framing
from edge.request_policy import Caps
from keys.client import Admission
from protocol import COLD_HEADER, INSTANCE_HEADER, TICKET_HEADER, WARM_ONLY_HEADER
from rules import errors
from rules.auth import presented_key
from rules.body_limit import BufferedBytes, Claim
from rules.instances import warm_first
from rules.routing import USAGE_CHUNK_PATHS, dialect_for, upstream_path
from settings import Settings

_buffered: BufferedBytes | None = None


def buffered_bytes(settings: Settings) -> BufferedBytes:
    """The isolate's one count of JSON body bytes held at once (MAX_BUFFERED_BYTES)."""
    global _buffered
    if _buffered is None:
        _buffered = BufferedBytes(settings.max_buffered_bytes)
    return _buffered


def key_of(headers: Any) -> str | None:
    return presented_key(header(headers, "authorization"), header(headers, "x-api-key"), header(headers, "api-key"))


class Forward:
    def __init__(self, env: Any, ctx: Any, request: Any, settings: Settings, request_id: str, path: str,
                 method: str) -> None:
        self._env, self._ctx, self._request, self._settings = env, ctx, request, settings
        self._request_id, self._path, self._method = request_id, path, method
        self._dialect = dialect_for(path)
        self._keys: KeyGate | None = None
        self._key: str | None = None  # a virtual key's (None: the master key)
        self._admission: Admission | None = None
        self._namespace = containers_of(env)  # the container instances' (None: not bound)

    async def answer(self) -> Response:
        """Who asks comes first: a key that is not live gets its 401 before anything of the body is judged or
        read, and a forged gateway key before any Durable Object is asked (docs/security.md)."""
        incoming, settings = self._request.js_object, self._settings
        bound = keys_bound(self._env)
        caller = caller_of(key_of(incoming.headers), settings.master_key, bound, settings.key_mark_secret,
                           self._namespace is not None)
        if isinstance(caller, errors.GatewayError):
            return error_response(caller, self._request_id, self._dialect)
        self._keys = KeyGate(self._env, self._ctx) if bound else None
        if self._keys is not None and not caller.is_master:
            self._key = caller.key
            # The model is checked below, once the body is judged; what the request may cost is reserved now.
            self._admission = admission = await self._keys.admit(
                caller.key, None, need(self._method, self._path, header(incoming.headers, "content-length"),
                                       settings.max_request_bytes), self._request_id)  # type: ignore[arg-type]
            if admission.refusal is not None:
                refused = error_response(admission.refusal, self._request_id, self._dialect)
                return with_headers(refused, admission.headers)
        claim = Claim(buffered_bytes(settings))
        try:
            return await self._judged_and_sent(claim)
        finally:
            claim.release()  # the body has been sent (or refused): its bytes are no longer held here

    async def _judged_and_sent(self, claim: Claim) -> Response:
        models = None if self._admission is None else self._admission.models  # None: the master key
        query = urlsplit(self._request.url).query
        judged = await self._judged(query, claim, pinned(models))
        if isinstance(judged, errors.GatewayError):  # with the key's limit headers when it is its 429
            return self._refuse(judged, None, judged.status == 429)
        forwarded, body, named_at, added_usage = judged
        # The one model it is for, from everywhere LiteLLM reads one; a stored response only if the key made it.
        stored = None
        if self._keys is not None and self._admission is not None and models is not None and named_at.stored:
            stored = await self._keys.stored_model(self._key, self._admission, named_at.stored)  # type: ignore[arg-type]
        verdict = decide(named_at, models, stored)
        if verdict.refusal is not None:
            return self._refuse(verdict.refusal, verdict.model, True)
        return await self._send(forwarded, body, verdict.model, added_usage)

    def _refuse(self, error: errors.GatewayError, model: str | None, with_limits: bool) -> Response:
        """A request refused after its key was admitted: the admission is freed (booked as one failed request)."""
        admission = self._admission
        if self._keys is not None and self._key is not None and admission is not None:
            self._keys.book_failed(self._key, admission, model, error, self._request_id)
        refused = error_response(error, self._request_id, self._dialect)
        return with_headers(refused, admission.headers) if with_limits and admission is not None else refused

    async def _judged(self, query: str, claim: Claim,
                      pin: bool) -> tuple[Any, JsonBody | None, Places, bool] | errors.GatewayError:
        """The request's framing and body judged: (the request to forward — the client's, or its upload with the
        head read —, the JSON body to forward or None for a stream that moves as is, where it names its model,
        whether usage was asked for metering), or why not. `pin`: a key with a model list (model_choice)."""
        incoming, settings, method, path = self._request.js_object, self._settings, self._method, self._path
        plan = framing(method, path, header(incoming.headers, "content-length"), header(incoming.headers,
                       "content-type"), present(incoming.body), settings.max_request_bytes, pin)
        if isinstance(plan, errors.GatewayError):
            return plan
        if plan.body in (Body.NONE, Body.STREAM):
            return self._request, None, places(method, path, query), False
        if plan.body is Body.UPLOAD:
            upload = await read_upload(incoming, claim)
            if isinstance(upload, errors.GatewayError):
                return upload
            return upload, None, places(method, path, query, tuple(upload.models)), False
        caps = Caps(settings.max_num_retries, settings.max_request_seconds, no_fallbacks=pin,
                    output=output_cap(self._admission, method, path, query))
        ask_usage = self._keys is not None and upstream_path(path) in USAGE_CHUNK_PATHS
        read = await read_json(incoming, plan.length, settings.max_request_bytes, claim, caps, ask_usage)
        if isinstance(read, errors.GatewayError):
            return read
        verdict = read.verdict
        named = () if verdict.model is None else (verdict.model,)
        return self._request, read, places(method, path, query, named, verdict.continues), verdict.added_usage

    async def _send(self, request: Any, body: JsonBody | None, model: str | None, added_usage: bool) -> Response:
        incoming, method, path = request.js_object, self._method, self._path
        target = upstream_path(path)
        keys, admission, key = self._keys, self._admission, self._key
        stores = method == "POST" and target == RESPONSES_PATH
        ticket = None if keys is None else keys.ticket(key, admission, model, added_usage, stores)
        namespace = self._namespace

        def send(to: str, warm_only: str | None = None) -> Any:
            forwarded = _outgoing(incoming, request.url, path, target, method, body)
            internal = forwarded.headers
            internal.set("x-request-id", self._request_id)
            internal.set(INSTANCE_HEADER, to)
            for header_name, value in ((WARM_ONLY_HEADER, warm_only), (TICKET_HEADER, ticket)):
                if value:
                    internal.set(header_name, value)
                else:
                    internal.delete(header_name)  # a client's copy never reaches the Durable Object
            return namespace.get(namespace.idFromName(to)).fetch(forwarded)

        to = destination(self._settings.instances, header(incoming.headers, "x-session-affinity"),
                         body is not None or not present(incoming.body))  # a streamed upload can go only once
        try:
            if to.warm_first:
                _, response = await warm_first(send, _is_cold, to.instance, self._settings.instances)
            else:
                response = await send(to.instance)
        except (JsException, OSError):
            if keys is not None and key is not None and admission is not None:  # frees the key's parallel slot
                keys.book_failed(key, admission, model, errors.gateway_error(), self._request_id)  # the catch-all's
            raise
        if keys is not None and admission is not None:
            response = await keys.shown(response, admission, target)
        return Response(js_response_of(response))  # a workers.Response, on either SDK


def _is_cold(response: Any) -> bool:
    return header(js_response_of(response).headers, COLD_HEADER) is not None


def _outgoing(incoming: Any, url: str, path: str, target: str, method: str, body: JsonBody | None) -> Any:
    """The request for the Durable Object: the client's, or a copy aimed at LiteLLM's `/v1` path, turned
    from HEAD into GET, or carrying the body already read at the edge (else the body stream moves as is)."""
    if target == path and method == str(incoming.method) and body is None:
        return js.Request.new(incoming, js_dict({"headers": incoming.headers}))
    parts = urlsplit(url)
    headers = js.Headers.new(incoming.headers)
    init: dict[str, Any] = {"method": method, "headers": headers}
    if body is not None:
        # The length of what is sent (it differs once capped): the Durable Object then trusts it instead of
        # counting the body a second time.
        headers.set("content-length", str(body.size))
        headers.delete("transfer-encoding")
        init.update(body=body.content(), duplex="half")
    elif present(incoming.body) and method not in ("GET", "HEAD"):
        init.update(body=incoming.body, duplex="half")
    return js.Request.new(parts._replace(path=target).geturl(), js_dict(init))


