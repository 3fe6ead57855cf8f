"""The edge: answers `/` and `/health`, checks auth, and forwards allow-listed `/v1/*` to a Durable Object.

Nothing unauthenticated reaches the Durable Object (and so LiteLLM); nothing but allow-listed
API paths is forwarded; response bodies pass through as streams.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import js
from pyodide.ffi import JsException, to_js
from workers import Response, WorkerEntrypoint

import errors
from auth import key_matches, presented_key
from body_limit import Declared, judge_declared_length
from container import LEDGER_PATH, STATE_PATH, WARM_PATH, LiteLLMContainer
from content_types import body_type_accepted, is_json
from durations import format_duration_ms
from instances import COLD_HEADER, INSTANCE_HEADER, WARM_ONLY_HEADER, instance_names, pick_instance, siblings
from js_interop import env_lookup, header, js_dict, js_response_of, present, raw_js
from jsonlog import EventLog
from key_gate import KeyGate, keys_bound, refusal_error
from keys.admin import is_admin_path
from keys.objects import KeyDirectory, VirtualKey
from keys.ticket import TICKET_HEADER
from lifecycle import HEALTHY_STATES, State
from request_ids import request_id_for
from request_policy import Accepted, Caps, judge
from responses import error_response, json_response, with_headers, without_body
from routing import USAGE_CHUNK_PATHS, Route, classify, dialect_for, model_in_path, upstream_path
from settings import VERSION, Settings, isolate_settings
from streams import read_bounded

__all__ = ["Default", "KeyDirectory", "LiteLLMContainer", "VirtualKey"]

BINDING = "LITELLM_CONTAINER"
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
        log.emit("info", "request", request_id=request_id, method=method, route=route.value, path=path[:200],
                 status=js_response_of(response).status, ms=round((time.perf_counter() - started) * 1000, 2))
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
        incoming = request.js_object
        dialect = dialect_for(path)
        key = _key_of(incoming.headers)
        is_master = key_matches(key, settings.master_key)
        keys = KeyGate(self.env, self.ctx) if keys_bound(self.env) else None
        if not is_master and (keys is None or key is None):
            return error_response(errors.invalid_api_key(), request_id, dialect)
        declared = judge_declared_length(header(incoming.headers, "content-length"), settings.max_request_bytes)
        if declared is Declared.TOO_LARGE:
            return error_response(errors.request_too_large(settings.max_request_bytes), request_id, dialect)
        if declared is Declared.INVALID:
            return error_response(errors.invalid_content_length(), request_id, dialect)
        has_body = present(incoming.body) and header(incoming.headers, "content-length") != "0"
        target = upstream_path(path)
        if not body_type_accepted(method, target, header(incoming.headers, "content-type"), has_body):
            return error_response(errors.unsupported_media_type("application/json"), request_id, dialect)
        body = None  # None: the client's body moves on as a stream
        model, added_usage = model_in_path(path), False
        if method == "POST" and has_body and is_json(header(incoming.headers, "content-type")):
            judged = await _judged_body(incoming, declared, settings,
                                        ask_usage=keys is not None and target in USAGE_CHUNK_PATHS)
            if isinstance(judged, errors.GatewayError):
                return error_response(judged, request_id, dialect)
            body, verdict = judged
            model, added_usage = verdict.model or model, verdict.added_usage
        namespace = _containers(self.env)
        if namespace is None:
            return error_response(errors.container_unbound(), request_id, dialect)
        admission = None
        if keys is not None and not is_master:
            admission = await keys.admit(key, model)
            if admission.refusal is not None:
                refused = error_response(refusal_error(admission.refusal, model), request_id, dialect)
                return with_headers(refused, admission.headers)

        affinity = header(incoming.headers, "x-session-affinity")
        name = pick_instance(settings.instances, affinity)
        ticket = None if keys is None else keys.ticket(None if is_master else key, admission, model, added_usage)

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
                name, response = await _warm_first(send, name, settings.instances)
            else:
                response = await send(name)
        except (JsException, OSError):
            if keys is not None and admission is not None:  # frees the key's parallel slot at once
                keys.book_failed(key, admission, model)
            raise
        if admission is not None:
            response = await keys.shown(response, admission, target)
        return Response(js_response_of(response))  # a workers.Response, on either SDK

    async def _admin(self, request: Any, method: str, path: str, settings: Settings, request_id: str) -> Response:
        """LiteLLM's key API (/key/*, /spend/report), answered at the edge: never forwarded to LiteLLM."""
        incoming = request.js_object
        key = _key_of(incoming.headers)
        is_master = key_matches(key, settings.master_key)
        if not keys_bound(self.env) or (not is_master and key is None):
            return error_response(errors.invalid_api_key(), request_id)
        body = None
        if method == "POST" and present(incoming.body):
            buffer = await read_bounded(incoming.body, settings.max_request_bytes)
            if buffer is None:
                return error_response(errors.request_too_large(settings.max_request_bytes), request_id)
            body = buffer.to_bytes()
        query = urlsplit(request.url).query
        namespace = _containers(self.env)

        async def instance_ledgers(instances: list[str], start_day: str, end_day: str) -> list[dict[str, Any]]:
            """The master key's usage, booked by the container instances that served it."""
            if namespace is None:
                return []
            ask = f"{LEDGER_PATH}?{urlencode({'start_day': start_day, 'end_day': end_day})}"
            return [row for answer in await _ask_each(namespace, instances, ask) for row in answer["rows"]]

        return await KeyGate(self.env, self.ctx, instance_ledgers).admin(method, path, query, body, key, is_master)

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


async def _warm_first(send: Callable[..., Any], name: str, count: int) -> tuple[str, Any]:
    """Warm-sibling routing: a request that lands on a cold instance is served by a ready sibling while its
    own instance boots; only when none is ready does it wait for that boot. The warm path is one call."""
    response = await send(name, "boot")
    if header(js_response_of(response).headers, COLD_HEADER) is None:
        return name, response
    for sibling in siblings(name, count):
        response = await send(sibling, "peek")
        if header(js_response_of(response).headers, COLD_HEADER) is None:
            return sibling, response
    return name, await send(name)


async def _judged_body(incoming: Any, declared: Declared, settings: Settings,
                       ask_usage: bool) -> tuple[Any, Accepted] | errors.GatewayError:
    """A JSON API body read once (bounded) and judged by the request policy: what to forward, or why not."""
    if declared is Declared.WITHIN:  # the length is known and within the limit: read it in one go
        buffer = await incoming.arrayBuffer()
    else:
        buffer = await read_bounded(incoming.body, settings.max_request_bytes)
    if buffer is None:
        return errors.request_too_large(settings.max_request_bytes)
    verdict = judge(buffer.to_bytes(), Caps(settings.max_num_retries, settings.max_request_seconds), ask_usage)
    if isinstance(verdict, errors.GatewayError):
        return verdict
    return (buffer if verdict.body is None else to_js(verdict.body)), verdict  # the same bytes, unless changed


def _containers(env: Any) -> Any | None:
    """The containers' Durable Object namespace as a JS object (its stubs then take and give JS), or None."""
    bound = getattr(env, BINDING, None)
    return None if bound is None else raw_js(bound)


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


def _outgoing(incoming: Any, url: str, path: str, target: str, method: str, body: Any) -> Any:
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
        headers.set("content-length", str(body.byteLength))
        headers.delete("transfer-encoding")
        init["body"] = body
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
