"""The edge: answers `/` and `/health`, checks auth, and forwards allow-listed `/v1/*` to a Durable Object.

Nothing unauthenticated reaches the Durable Object (and so LiteLLM); nothing but allow-listed
API paths is forwarded; response bodies pass through as streams.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlsplit

import js
from pyodide.ffi import JsException
from workers import Response, WorkerEntrypoint

from bridge.js_interop import env_lookup, header, js_dict, js_response_of, present, raw_js
from bridge.responses import error_response, json_response, with_headers, without_body
from bridge.streams import read_bounded
from container.durable_object import LiteLLMContainer
from container.instances import instance_names, pick_instance, warm_first
from container.lifecycle import HEALTHY_STATES, State
from durations import format_duration_ms
from edge.body_reader import JsonBody, read_json
from edge.form_reader import read_upload
from edge.key_gate import KeyGate, keys_bound, need, output_cap
from edge.model_choice import RESPONSES_PATH, Places, decide, pinned, places
from edge.request_policy import Caps, OutputCap
from jsonlog import EventLog
from keys.admin import is_admin_path, loggable_path
from keys.material import Mark, mark_of
from keys.objects import KeyDirectory, VirtualKey
from protocol import (
    COLD_HEADER,
    CONTAINER_BINDING,
    INSTANCE_HEADER,
    STATE_PATH,
    TICKET_HEADER,
    WARM_ONLY_HEADER,
    WARM_PATH,
)
from rules import errors
from rules.auth import key_matches, presented_key
from rules.body_limit import MAX_ADMIN_BODY_BYTES, BufferedBytes, Claim, Declared, judge_declared_length
from rules.content_types import body_type_accepted, is_json
from rules.request_ids import request_id_for
from rules.routing import USAGE_CHUNK_PATHS, Route, classify, dialect_for, upstream_path
from settings import VERSION, Settings, isolate_settings

__all__ = ["Default", "KeyDirectory", "LiteLLMContainer", "VirtualKey"]

_warned: set[str] = set()  # configuration warnings, logged once per isolate


class Default(WorkerEntrypoint):
    async def fetch(self, request: Any) -> Response:
        started = time.perf_counter()
        settings = isolate_settings(env_lookup(self.env))
        log = EventLog(settings.log_level, "edge")
        _warn_once(log, settings)
        headers = request.js_object.headers
        request_id = request_id_for(header(headers, "x-request-id"))
        method = str(request.js_object.method)
        path = urlsplit(request.url).path
        route = classify(method, path)
        origin = header(headers, "origin")

        try:
            response = await self._answer(request, route, method, path, settings, request_id, origin)
        except (JsException, OSError) as exc:  # a Durable Object failure reaches us as AbortError
            log.emit("error", "edge_failure", request_id=request_id, error=str(exc)[:200])
            response = error_response(errors.gateway_error(), request_id, dialect_for(path))
        response = with_headers(response, {**dialect_for(path).request_id_headers(request_id),
                                           **settings.cors.response_headers(origin)})
        log.emit("info", "request", request_id=request_id, method=method, route=route.value,
                 path=loggable_path(path)[:200], status=js_response_of(response).status,
                 ms=round((time.perf_counter() - started) * 1000, 2))
        return response

    async def _answer(self, request: Any, route: Route, method: str, path: str, settings: Settings,
                      request_id: str, origin: str | None) -> Response:
        if route is Route.ROOT:
            return json_response({"service": "litellm-router", "status": "ok"})
        if route is Route.HEALTH:
            return json_response(await self._health(settings))
        dialect = dialect_for(path)
        if route is Route.NOT_FOUND and is_admin_path(path):
            return await self._admin(request, method, path, settings, request_id)
        if route is Route.NOT_FOUND:
            return error_response(errors.not_found(path), request_id, dialect)
        if route is Route.METHOD_NOT_ALLOWED:
            return error_response(errors.method_not_allowed(method), request_id, dialect)
        if route is Route.PREFLIGHT:
            cors = settings.cors.preflight_headers(origin, header(request.js_object.headers,
                                                                  "access-control-request-headers"))
            return Response(None, status=204, headers=cors) if cors else error_response(
                errors.origin_not_allowed(), request_id, dialect)
        if method.upper() == "HEAD":  # what a GET would answer, without the body
            return await without_body(await self._forward(request, settings, request_id, path, "GET"))
        return await self._forward(request, settings, request_id, path, method)

    async def _forward(self, request: Any, settings: Settings, request_id: str, path: str,
                       method: str) -> Response:
        """Who asks comes first: a key that is not live gets its 401 before anything of the body is judged or
        read, and a forged gateway key before any Durable Object is asked (README, Security model)."""
        incoming = request.js_object
        dialect = dialect_for(path)
        key = _key_of(incoming.headers)
        is_master = key_matches(key, settings.master_key)
        keys = KeyGate(self.env, self.ctx) if keys_bound(self.env) else None
        if not is_master and (keys is None or key is None or mark_of(key, settings.key_mark_secret) is Mark.FORGED):
            return error_response(errors.invalid_api_key(), request_id, dialect)
        namespace = _containers(self.env)
        if namespace is None:
            return error_response(errors.container_unbound(), request_id, dialect)
        admission = None
        if keys is not None and not is_master:
            # The model is checked below, once the body is judged; what the request may cost is reserved now.
            admission = await keys.admit(key, None, need(method, path, header(incoming.headers, "content-length"),
                                                         settings.max_request_bytes), request_id)
            if admission.refusal is not None:
                refused = error_response(admission.refusal, request_id, dialect)
                return with_headers(refused, admission.headers)
        claim = Claim(_buffered_bytes(settings))
        models = None if admission is None else admission.models  # None: the master key
        query = urlsplit(request.url).query
        try:
            planned = await _judged_request(request, path, query, method, settings, claim,
                                            ask_usage=keys is not None and upstream_path(path) in USAGE_CHUNK_PATHS,
                                            pin=pinned(models), output=output_cap(admission, method, path, query))
            if isinstance(planned, errors.GatewayError):  # with the key's limit headers when it is its 429
                return self._refuse(planned, keys, key, admission, None, request_id, dialect, planned.status == 429)
            forwarded, body, named_at, added_usage = planned
            # The one model it is for, from everywhere LiteLLM reads one; a stored response only if the key made it.
            stored = None
            if models is not None and named_at.stored is not None:
                stored = await keys.stored_model(key, admission, named_at.stored)  # type: ignore[union-attr]
            verdict = decide(named_at, models, stored)
            if verdict.refusal is not None:
                return self._refuse(verdict.refusal, keys, key, admission, verdict.model, request_id, dialect,
                                    True)
            return await self._send(forwarded, path, method, settings, request_id, namespace, keys,
                                    None if is_master else key, admission, body, verdict.model, added_usage)
        finally:
            claim.release()  # the body has been sent (or refused): its bytes are no longer held here

    def _refuse(self, error: errors.GatewayError, keys: KeyGate | None, key: str | None, admission: Any,
                model: str | None, request_id: str, dialect: Any, with_limits: bool) -> Response:
        """A request refused after its key was admitted: the admission is freed (booked as one failed request)."""
        if keys is not None and key is not None and admission is not None:
            keys.book_failed(key, admission, model, error, request_id)
        refused = error_response(error, request_id, dialect)
        return with_headers(refused, admission.headers) if with_limits and admission is not None else refused

    async def _send(self, request: Any, path: str, method: str, settings: Settings, request_id: str,
                    namespace: Any, keys: KeyGate | None, key: str | None, admission: Any, body: Any,
                    model: str | None, added_usage: bool) -> Response:
        incoming = request.js_object
        target = upstream_path(path)
        affinity = header(incoming.headers, "x-session-affinity")
        name = pick_instance(settings.instances, affinity)
        stores = method == "POST" and target == RESPONSES_PATH
        ticket = None if keys is None else keys.ticket(key, admission, model, added_usage, stores)

        def send(to: str, warm_only: str | None = None) -> Any:
            forwarded = _outgoing(incoming, request.url, path, target, method, body)
            internal = forwarded.headers
            internal.set("x-request-id", request_id)
            internal.set(INSTANCE_HEADER, to)
            for header_name, value in ((WARM_ONLY_HEADER, warm_only), (TICKET_HEADER, ticket)):
                if value:
                    internal.set(header_name, value)
                else:
                    internal.delete(header_name)  # a client's copy never reaches the Durable Object
            return namespace.get(namespace.idFromName(to)).fetch(forwarded)

        resendable = body is not None or not present(incoming.body)  # a streamed upload can go only once
        try:
            if settings.instances > 1 and affinity is None and resendable:
                name, response = await warm_first(send, _is_cold, name, settings.instances)
            else:
                response = await send(name)
        except (JsException, OSError):
            if keys is not None and key is not None and admission is not None:  # frees the key's parallel slot
                keys.book_failed(key, admission, model, errors.gateway_error(), request_id)  # the catch-all's
            raise
        if admission is not None:
            response = await keys.shown(response, admission, target)  # type: ignore[union-attr]
        return Response(js_response_of(response))  # a workers.Response, on either SDK

    async def _admin(self, request: Any, method: str, path: str, settings: Settings, request_id: str) -> Response:
        """LiteLLM's key API (/key/*, /spend/report), answered at the edge: never forwarded to LiteLLM."""
        incoming = request.js_object
        key = _key_of(incoming.headers)
        is_master = key_matches(key, settings.master_key)
        if not keys_bound(self.env) or (not is_master and (
                key is None or mark_of(key, settings.key_mark_secret) is Mark.FORGED)):
            return error_response(errors.invalid_api_key(), request_id)
        body = None
        if is_master and method == "POST" and present(incoming.body):  # only the master key writes: no body
            buffer = await read_bounded(incoming.body, MAX_ADMIN_BODY_BYTES)  # is read for anyone else
            if buffer is None:
                return error_response(errors.request_too_large(MAX_ADMIN_BODY_BYTES), request_id)
            body = buffer.to_bytes()
        query = urlsplit(request.url).query
        namespace = _containers(self.env)

        async def ask_instances(instances: list[str], ask: str) -> list[dict[str, Any]]:
            """The master key's usage and recent requests, kept by the container instances that served it."""
            return [] if namespace is None else await _ask_each(namespace, instances, ask)

        return await KeyGate(self.env, self.ctx, ask_instances, settings.key_mark_secret).admin(
            method, path, query, body, key, is_master, request_id)

    async def scheduled(self, controller: Any, env: Any = None, ctx: Any = None) -> None:
        """Cron Trigger (`triggers.crons`): boots every instance ahead of traffic, e.g. before working hours.

        workerd passes env and ctx as None to a Python handler: the Worker's own `self.env` is used.
        """
        settings = isolate_settings(env_lookup(self.env))
        namespace = _containers(self.env)
        if namespace is None:
            return
        names = instance_names(settings.instances)
        states = [answer.get("state") for answer in await _ask_each(namespace, names, WARM_PATH)]
        EventLog(settings.log_level, "edge").emit("info", "warm_up", instances=len(names), states=states)

    async def _health(self, settings: Settings) -> dict[str, object]:
        """Never starts a container: the Durable Objects answer from what they know."""
        namespace = _containers(self.env)
        instances: list[dict[str, object]] = []
        if namespace is not None:
            names = instance_names(settings.instances)
            answers = await _ask_each(namespace, names, STATE_PATH)
            instances = [{"name": name, **answer} for name, answer in zip(names, answers, strict=True)]
        healthy = namespace is not None and all(item.get("state") in HEALTHY_STATES for item in instances)
        return {
            "status": "ok" if healthy else "degraded",
            "service": "litellm-router",
            "version": VERSION,
            "container_binding": namespace is not None,
            "container": instances[0] if instances else {"state": State.UNBOUND.value},
            "instances": instances,
            "config": {
                "ready_timeout": format_duration_ms(settings.ready_timeout_ms),
                "sleep_after": format_duration_ms(settings.sleep_after_ms),
                "max_request_bytes": settings.max_request_bytes,
                "container_instances": settings.instances,
            },
        }


async def _judged_request(request: Any, path: str, query: str, method: str, settings: Settings, claim: Claim,
                          ask_usage: bool, pin: bool,
                          output: OutputCap | None = None) -> tuple[Any, Any, Places, bool] | errors.GatewayError:
    """The request's framing and body judged: (the request to forward — the client's, or its upload with the head
    read —, the JSON body to forward or None for a stream that moves as is, where it names its model, whether
    usage was asked for metering), or why not. `pin`: a key with a model list (model_choice): LiteLLM may not
    fall back to another model, and an upload's head is read for its model. `output`: the output cap a key's
    reservation allows (request_policy.output_caps)."""
    incoming = request.js_object
    length = header(incoming.headers, "content-length")
    declared = judge_declared_length(length, settings.max_request_bytes)
    if declared is Declared.TOO_LARGE:
        return errors.request_too_large(settings.max_request_bytes)
    if declared is Declared.INVALID:
        return errors.invalid_content_length()
    has_body = present(incoming.body) and length != "0"
    target = upstream_path(path)
    content_type = header(incoming.headers, "content-type")
    if not body_type_accepted(method, target, content_type, has_body):
        return errors.unsupported_media_type("application/json")
    if not (method == "POST" and has_body):
        return request, None, places(method, path, query), False
    if not is_json(content_type):  # an upload (content_types: multipart, for audio transcriptions)
        if not pin:
            return request, None, places(method, path, query), False
        upload = await read_upload(incoming, claim)
        if isinstance(upload, errors.GatewayError):
            return upload
        return upload, None, places(method, path, query, tuple(upload.models)), False
    read = await read_json(incoming, int(length) if declared is Declared.WITHIN else None,  # type: ignore[arg-type]
                           settings.max_request_bytes, claim,
                           Caps(settings.max_num_retries, settings.max_request_seconds, no_fallbacks=pin,
                                output=output), ask_usage)
    if isinstance(read, errors.GatewayError):
        return read
    verdict = read.verdict
    named = () if verdict.model is None else (verdict.model,)
    return request, read, places(method, path, query, named, verdict.continues), verdict.added_usage


_buffered: BufferedBytes | None = None


def _buffered_bytes(settings: Settings) -> BufferedBytes:
    """The isolate's one count of JSON body bytes held at once (MAX_BUFFERED_BYTES)."""
    global _buffered
    if _buffered is None:
        _buffered = BufferedBytes(settings.max_buffered_bytes)
    return _buffered


def _containers(env: Any) -> Any | None:
    """The containers' Durable Object namespace as a JS object (its stubs then take and give JS), or None."""
    bound = getattr(env, CONTAINER_BINDING, None)
    return None if bound is None else raw_js(bound)


def _is_cold(response: Any) -> bool:
    return header(js_response_of(response).headers, COLD_HEADER) is not None


def _key_of(headers: Any) -> str | None:
    return presented_key(header(headers, "authorization"), header(headers, "x-api-key"), header(headers, "api-key"))


async def _ask_each(namespace: Any, names: list[str], path: str) -> list[dict[str, Any]]:
    """An internal call to each instance's Durable Object at once (never reachable from a client's path):
    their JSON answers, in the order of `names`."""

    async def ask(name: str) -> dict[str, Any]:
        request = js.Request.new(f"http://gateway{path}", js_dict({"headers": {INSTANCE_HEADER: name}}))
        answer = await namespace.get(namespace.idFromName(name)).fetch(request)
        return json.loads(str(await answer.text()))

    return list(await asyncio.gather(*(ask(name) for name in names)))


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


def _warn_once(log: EventLog, settings: Settings) -> None:
    notes = list(settings.problems)
    if settings.master_key_is_default:
        notes.append("LITELLM_MASTER_KEY is not set: using the default development key")
    for note in notes:
        if note not in _warned:
            _warned.add(note)
            log.emit("warning", "config", message=note)
