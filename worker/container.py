"""LiteLLMContainer: the Durable Object that owns one LiteLLM container — its lifecycle and the proxy to it.

With no container bound but LITELLM_UPSTREAM_URL set, it fronts that existing LiteLLM instead: the
same auth swap, header hygiene, streaming and error mapping, and no lifecycle.

Failures map to one status each (see errors.py): no container 503, not ready in time 503 + Retry-After
(the boot goes on), exited while booting 503, connection lost before an answer 502, body over the
limit while streaming 413.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import js
from pyodide.ffi import JsException
from workers import DurableObject, Response

import errors
from body_limit import ByteBudget, Declared, judge_declared_length
from content_types import is_json
from header_policy import client_response_headers, forwarded_request_headers
from js_interop import env_lookup, header, iter_headers, js_dict, make_headers, present
from jsonlog import EventLog
from lifecycle import Lifecycle, State, ceil_seconds, idle_check, retry_after_s
from request_ids import request_id_for
from responses import error_response, json_response
from settings import Settings, container_env
from streams import limited, on_finish

CONTAINER_PORT = 4000  # where LiteLLM listens inside the container (container/start.sh)
CONTAINER_ORIGIN = "http://container"  # host part is ignored by getTcpPort(); kept for readable URLs
READINESS_PATH = "/health/liveliness"  # cheap; LiteLLM's /health would call every provider
PROBE_TIMEOUT_MS = 2_000  # one probe: getTcpPort().fetch can hang while the container boots
PROBE_INTERVAL_MS = 250
BOOT_GIVE_UP_MS = 300_000  # a boot not ready after 5 minutes is stopped and reported failed
STOP_GRACE_MS = 10_000  # SIGTERM, then destroy (LiteLLM exits in ~2 s)
SIGTERM = 15
STATE_PATH = "/__gateway/state"  # asked by the edge for /health; the edge never forwards it from clients
STORAGE_KEY = "lifecycle"


def now_ms() -> int:
    return int(time.time() * 1000)


class LiteLLMContainer(DurableObject):
    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self.lifecycle = Lifecycle()
        self._loaded = False
        self._boot: asyncio.Future | None = None  # the one start + readiness wait everyone shares
        self._exit: asyncio.Future | None = None  # settles when the running container exits
        self._generation = 0  # which start an exit belongs to
        self._stop_requested = False
        self._inflight = 0
        self._last_activity_ms = now_ms()
        self._log = EventLog("info", "container")

    # -- entry points -------------------------------------------------------------------------

    async def fetch(self, request: Any) -> Response:
        settings = Settings.from_lookup(env_lookup(self.env))
        self._log = EventLog(settings.log_level, "container")
        await self._load()
        url = urlsplit(request.url)
        container = self._container()
        if url.path == STATE_PATH:
            return json_response(self._report(container, settings))
        request_id = request_id_for(header(request.js_object.headers, "x-request-id"))
        if container is None:
            if settings.upstream_url is None:
                return error_response(errors.container_unbound(), request_id)
            upstream = settings.upstream_url  # an existing LiteLLM: same proxy, no lifecycle

            def send_upstream(target: str, init: Any) -> Any:
                return js.fetch(upstream + target, init)

            return await self._proxy(send_upstream, request, url, request_id, settings.upstream_key, settings,
                                     on_done=lambda: None)

        self._begin()
        handed_off = False
        try:
            failure = await self._ensure_ready(container, settings)
            if failure is not None:
                return error_response(failure, request_id)
            port = container.getTcpPort(CONTAINER_PORT)

            def send_to_container(target: str, init: Any) -> Any:
                return port.fetch(CONTAINER_ORIGIN + target, init)

            response = await self._proxy(send_to_container, request, url, request_id, settings.container_key,
                                         settings, on_done=self._end)
            handed_off = True  # _proxy has called _end, or will once the client has the whole body
            return response
        finally:
            if not handed_off:
                self._end()

    async def alarm(self, alarm_info: Any = None) -> None:
        """The idle timer: stop the container after SLEEP_AFTER with nothing in flight."""
        await self._load()
        container = self._container()
        if container is None or not container.running:
            return
        settings = Settings.from_lookup(env_lookup(self.env))
        next_check = idle_check(now_ms(), self._last_activity_ms, self._inflight, settings.sleep_after_ms)
        if next_check is None:
            await self._stop(container, reason="idle")
        else:
            await self.ctx.storage.setAlarm(next_check)

    # -- lifecycle ------------------------------------------------------------------------------

    def _container(self) -> Any:
        container = getattr(self.ctx, "container", None)
        return container if present(container) else None

    async def _load(self) -> None:
        """Restores the lifecycle after the object was evicted; the container may have outlived it."""
        if self._loaded:
            return
        self._loaded = True
        stored = await self.ctx.storage.get(STORAGE_KEY)
        self.lifecycle = Lifecycle.from_json(stored if isinstance(stored, str) else None)
        container = self._container()
        if container is None:
            return
        if container.running:
            self._watch(container)  # readiness is re-probed by the next request
            if self.lifecycle.state is not State.READY:
                await self._record(self.lifecycle.started)
        elif self.lifecycle.state in (State.STARTING, State.READY):
            await self._record(lambda t: self.lifecycle.exited(t, requested=False, crashed=False))

    async def _ensure_ready(self, container: Any, settings: Settings) -> errors.GatewayError | None:
        if self._stop_requested and self._exit is not None and not self._exit.done():
            # An idle stop is under way: let LiteLLM finish exiting, then boot afresh, rather than send
            # this request into a shutting-down process (a 502 for a client that did nothing wrong).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._exit), STOP_GRACE_MS / 1000)
        if self.lifecycle.state is State.READY and container.running:
            return None
        if self._boot is None:
            hold_off_ms = self.lifecycle.restart_wait_ms(now_ms())
            if hold_off_ms > 0:  # the last boots failed: do not start again on every request
                return errors.container_failed(ceil_seconds(hold_off_ms))
            self._boot = asyncio.ensure_future(self._boot_container(container, settings))
        try:
            ready = await asyncio.wait_for(asyncio.shield(self._boot), settings.ready_timeout_ms / 1000)
        except TimeoutError:
            wait = retry_after_s(self.lifecycle.boot_started_ms, now_ms(), self.lifecycle.last_boot_ms)
            return errors.container_starting(wait)
        return None if ready else errors.container_failed(ceil_seconds(self.lifecycle.restart_wait_ms(now_ms())))

    async def _boot_container(self, container: Any, settings: Settings) -> bool:
        try:
            if not container.running:
                self._stop_requested = False
                started = container.start(js_dict({
                    "env": container_env(env_lookup(self.env), settings.container_key),
                    "enableInternet": True,  # LiteLLM calls the providers
                }))
                if present(started):
                    await started
                self._watch(container)
                await self._record(self.lifecycle.started)
            exit_future = self._exit
            deadline = now_ms() + BOOT_GIVE_UP_MS
            while now_ms() < deadline:
                if exit_future is not None and exit_future.done():
                    return False
                if await self._probe(container):
                    await self._record(self.lifecycle.became_ready)
                    await self.ctx.storage.setAlarm(now_ms() + settings.sleep_after_ms)
                    return True
                await asyncio.sleep(PROBE_INTERVAL_MS / 1000)
            await self._stop(container, reason="boot_timeout")
            return False
        except JsException as exc:
            self._log.emit("error", "container_start_failed", error=str(exc)[:200])
            return False
        finally:
            self._boot = None

    async def _probe(self, container: Any) -> bool:
        port = container.getTcpPort(CONTAINER_PORT)
        init = js_dict({"method": "GET", "signal": js.AbortSignal.timeout(PROBE_TIMEOUT_MS)})
        try:
            response = await asyncio.wait_for(port.fetch(CONTAINER_ORIGIN + READINESS_PATH, init),
                                              PROBE_TIMEOUT_MS / 1000 + 0.5)
            await response.text()  # our own tiny probe body: reading it frees the connection
            return response.status == 200
        except (JsException, TimeoutError, OSError):
            return False

    def _watch(self, container: Any) -> None:
        """Follows one container run until it exits; the next request then starts a new one."""
        self._generation += 1
        generation = self._generation

        async def watch() -> None:
            crashed = False
            try:
                await container.monitor()
            except JsException:
                crashed = True
            if generation != self._generation:
                return
            requested = self._stop_requested
            await self._record(lambda t: self.lifecycle.exited(t, requested=requested, crashed=crashed))

        self._exit = asyncio.ensure_future(watch())

    async def _stop(self, container: Any, reason: str) -> None:
        self._stop_requested = True
        self._log.emit("info", "container_stop", reason=reason)
        container.signal(SIGTERM)
        if self._exit is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._exit), STOP_GRACE_MS / 1000)
                return
            except TimeoutError:
                pass
        destroyed = container.destroy()
        if present(destroyed):
            await destroyed

    async def _record(self, change: Any) -> None:
        """Applies a lifecycle change, logs the transition and persists it (for /health after eviction)."""
        previous = change(now_ms())
        self._log.emit("info", "container_state", previous=previous.value, state=self.lifecycle.state.value,
                       restarts=self.lifecycle.restarts, boot_ms=self.lifecycle.last_boot_ms)
        await self.ctx.storage.put(STORAGE_KEY, self.lifecycle.to_json())

    def _report(self, container: Any, settings: Settings) -> dict[str, object]:
        if container is None:
            return {"state": "upstream" if settings.upstream_url else State.UNBOUND.value}
        report = self.lifecycle.report(now_ms())
        report["inflight"] = self._inflight
        return report

    # -- proxy ----------------------------------------------------------------------------------

    def _begin(self) -> None:
        self._inflight += 1
        self._last_activity_ms = now_ms()

    def _end(self) -> None:
        self._inflight -= 1
        self._last_activity_ms = now_ms()

    async def _proxy(self, send: Callable[[str, Any], Any], request: Any, url: Any, request_id: str,
                     litellm_key: str, settings: Settings, on_done: Callable[[], None]) -> Response:
        """One request to LiteLLM and its answer back, both as streams; `on_done` runs when it is over."""
        incoming = request.js_object
        init: dict[str, Any] = {
            "method": incoming.method,
            "headers": make_headers(forwarded_request_headers(iter_headers(incoming.headers), litellm_key,
                                                              request_id)),
            "redirect": "manual",
        }
        budget: ByteBudget | None = None
        if present(incoming.body):
            body = incoming.body
            declared = judge_declared_length(header(incoming.headers, "content-length"),
                                             settings.max_request_bytes)
            if declared is Declared.UNKNOWN:  # chunked upload: count it on the way through
                budget = ByteBudget(settings.max_request_bytes)
                body = limited(body, budget)
            init["body"] = body
            init["duplex"] = "half"
        try:
            upstream = await send(url.path + (f"?{url.query}" if url.query else ""), js_dict(init))
        except JsException as exc:
            on_done()
            if budget is not None and budget.exceeded:
                return error_response(errors.request_too_large(settings.max_request_bytes), request_id)
            # The error's class only: its message can name the upstream's address.
            self._log.emit("warning", "upstream_lost", request_id=request_id, error=type(exc).__name__)
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
