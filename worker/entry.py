"""The Worker as workerd loads it: its entrypoint and the Durable Object classes it exports.

The entrypoint answers `/` and `/health`, the key API (keys.admin) and the cron warm-up itself, and hands every
allow-listed API request to edge.forward. Nothing unauthenticated reaches a Durable Object (and so LiteLLM);
nothing but allow-listed API paths is forwarded; response bodies pass through as streams.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from pyodide.ffi import JsException
from workers import Response, WorkerEntrypoint

from bridge.fan_out import ask_each, containers_of
from bridge.js_interop import env_lookup, header, js_response_of, present
from bridge.responses import error_response, json_response, with_headers, without_body
from bridge.streams import read_bounded
from container.durable_object import LiteLLMContainer
from container.lifecycle import HEALTHY_STATES, State
from durations import format_duration_ms
from edge.forward import Forward, key_of
from edge.key_gate import KeyGate, keys_bound
from edge.plan import caller_of
from jsonlog import EventLog
from keys.admin import is_admin_path, loggable_path
from keys.objects import KeyDirectory, VirtualKey
from keys.rpc import KeyServiceError
from protocol import (
    STATE_PATH,
    WARM_PATH,
)
from rules import errors
from rules.body_limit import MAX_ADMIN_BODY_BYTES
from rules.instances import instance_names
from rules.request_ids import request_id_for
from rules.routing import Route, classify, dialect_for
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
        except (JsException, OSError, KeyServiceError) as exc:  # a Durable Object failure reaches us as AbortError
            # Never the message of a JS error: a Durable Object's can carry its traceback or an address.
            what = str(exc)[:200] if isinstance(exc, KeyServiceError) else getattr(exc, "name", type(exc).__name__)
            log.emit("error", "edge_failure", request_id=request_id, error=what)
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
            return await without_body(await Forward(self.env, self.ctx, request, settings, request_id, path,
                                                    "GET").answer())
        return await Forward(self.env, self.ctx, request, settings, request_id, path, method).answer()

    async def _admin(self, request: Any, method: str, path: str, settings: Settings, request_id: str) -> Response:
        """LiteLLM's key API (/key/*, /spend/*), answered at the edge: never forwarded to LiteLLM."""
        incoming = request.js_object
        bound = keys_bound(self.env)
        caller = caller_of(key_of(incoming.headers), settings.master_key, bound, settings.key_mark_secret, True)
        if not bound or isinstance(caller, errors.GatewayError):  # no keys: no key API, not even for the master
            return error_response(errors.invalid_api_key(), request_id)
        key, is_master = caller.key, caller.is_master
        body = None
        if is_master and method == "POST" and present(incoming.body):  # only the master key writes: no body
            buffer = await read_bounded(incoming.body, MAX_ADMIN_BODY_BYTES)  # is read for anyone else
            if buffer is None:
                return error_response(errors.request_too_large(MAX_ADMIN_BODY_BYTES), request_id)
            body = buffer.to_bytes()
        query = urlsplit(request.url).query
        namespace = containers_of(self.env)

        async def ask_instances(instances: list[str], ask: str) -> list[dict[str, Any]]:
            """The master key's usage and recent requests, kept by the container instances that served it."""
            return [] if namespace is None else await ask_each(namespace, instances, ask)

        return await KeyGate(self.env, self.ctx, ask_instances, settings.key_mark_secret).admin(
            method, path, query, body, key, is_master, request_id)

    async def scheduled(self, controller: Any, env: Any = None, ctx: Any = None) -> None:
        """Cron Trigger (`triggers.crons`): boots every instance ahead of traffic, e.g. before working hours.

        workerd passes env and ctx as None to a Python handler: the Worker's own `self.env` is used.
        """
        settings = isolate_settings(env_lookup(self.env))
        namespace = containers_of(self.env)
        if namespace is None:
            return
        names = instance_names(settings.instances)
        states = [answer.get("state") for answer in await ask_each(namespace, names, WARM_PATH)]
        EventLog(settings.log_level, "edge").emit("info", "warm_up", instances=len(names), states=states)

    async def _health(self, settings: Settings) -> dict[str, object]:
        """Never starts a container: the Durable Objects answer from what they know."""
        namespace = containers_of(self.env)
        instances: list[dict[str, object]] = []
        if namespace is not None:
            names = instance_names(settings.instances)
            answers = await ask_each(namespace, names, STATE_PATH)
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


def _warn_once(log: EventLog, settings: Settings) -> None:
    notes = list(settings.problems)
    if settings.master_key_is_default:
        notes.append("LITELLM_MASTER_KEY is not set: using the default development key")
    for note in notes:
        if note not in _warned:
            _warned.add(note)
            log.emit("warning", "config", message=note)
