"""LiteLLMContainer: the Durable Object that owns one LiteLLM container and proxies to it.

Thin on purpose: `supervisor.py` decides the lifecycle, `proxy.py` moves the bytes, `adapter.py`
speaks to the platform. With no container bound but LITELLM_UPSTREAM_URL set, it fronts that existing
LiteLLM instead: the same proxy, no lifecycle.

Failures map to one status each (see errors.py): no container 503, not ready in time 503 + Retry-After
(the boot goes on), boot failed 503 + Retry-After (back-off), connection lost before an answer 502, body
over the limit while streaming 413.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import js
from pyodide.ffi import JsException
from workers import DurableObject, Response

from bridge.js_interop import env_lookup, from_rpc, header, js_dict, present
from bridge.responses import error_response, json_response
from container.adapter import CONTAINER_ORIGIN, CONTAINER_PORT, DurableStateStore, JsContainer
from container.booking import Booking
from container.exchange import Activity, Limits, Transport
from container.lifecycle import ExitReason, State, idle_check
from container.proxy import proxy
from container.supervisor import Supervisor, Timeouts
from durations import now_ms
from jsonlog import EventLog
from keys.ops import DIRECTORY
from keys.rpc import JsRpc, KeyServiceError
from keys.ticket import Ticket
from metering.ledger import MasterLedger
from metering.pricing import MODEL_INFO_PATH, PRICES_TTL_MS, Price, prices_from_model_info, unpriced
from protocol import (
    COLD_HEADER,
    INSTANCE_HEADER,
    INTERNAL_METHOD,
    LEDGER_PATH,
    RECENT_PATH,
    STATE_PATH,
    TICKET_HEADER,
    WARM_ONLY_HEADER,
    WARM_PATH,
)
from rules import errors, json_scan
from rules.errors import Dialect
from rules.instances import is_warm_floor
from rules.request_ids import request_id_for
from rules.routing import dialect_for
from settings import Settings, container_env, isolate_settings
from storage.workerd_sql import WorkerdSql

BOOT_GIVE_UP_MS = 300_000  # a boot not ready after 5 minutes is stopped and reported failed
PROBE_INTERVAL_MS = 250
STOP_GRACE_MS = 10_000  # SIGTERM, then destroy (LiteLLM exits in ~2 s)
NAME_KEY = "instance"  # storage: which instance this object is (for the warm floor, known to the alarm)


class LiteLLMContainer(DurableObject):
    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self._log = EventLog("info", "container")
        self._activity = Activity()
        self._name: str | None = None
        self._price_cache: tuple[int, dict[str, Price]] | None = None  # (valid until ms, prices)
        self._master_ledger: MasterLedger | None = None
        self._keys = JsRpc(env)  # the key objects and the directory, for bookings
        self._holder_known = False  # whether the directory was told this instance holds master-key usage
        container = getattr(ctx, "container", None)
        self._handle = JsContainer(container) if present(container) else None
        # A boot asks LiteLLM for its prices before the first request: asked at the first booking, LiteLLM's first
        # model-info answer stalled the streams then in flight (docs/keys.md, bench/LEVERS.md row 30).
        self._supervisor = None if self._handle is None else Supervisor(
            self._handle, DurableStateStore(ctx.storage), self._handle.probe, self._log,
            on_ready=lambda: self._prices(isolate_settings(env_lookup(self.env))))

    async def _internal_rpc(self, payload: Any = None) -> dict[str, Any]:
        """The edge's calls outside client traffic, by Durable Object RPC (exposed as protocol.INTERNAL_METHOD,
        below): the dict the same path answers over `fetch`, which stays for a Worker one version behind."""
        asked = from_rpc(payload) or {}
        settings = isolate_settings(env_lookup(self.env))
        self._log.set_level(settings.log_level)
        name, target = asked.get("instance"), asked.get("path")
        await self._remember_name(name if isinstance(name, str) else None)
        url = urlsplit(target if isinstance(target, str) else "")
        answer = await self._internal(url.path, url.query, settings)
        return {"error": "not an internal path"} if answer is None else answer

    async def _internal(self, path: str, query: str, settings: Settings) -> dict[str, Any] | None:
        """What an internal path answers (protocol's `/__gateway/*`), or None: not one."""
        if path == STATE_PATH:
            return await self._report(settings)
        if path == LEDGER_PATH:
            days = dict(parse_qsl(query))
            return {"rows": self._ledger().rows(days.get("start_day", ""), days.get("end_day", ""))}
        if path == RECENT_PATH:
            limit = dict(parse_qsl(query)).get("limit", "")
            return {"rows": self._ledger().recent(int(limit) if limit.isdigit() else 0)}
        if path == WARM_PATH:  # with no container (upstream mode) there is nothing to boot: the state
            if self._supervisor is not None:
                await self._supervisor.load()
                await self._supervisor.ensure_ready(self._timeouts(settings), self._container_env(settings))
            return await self._report(settings)
        return None

    async def fetch(self, request: Any) -> Response:
        settings = isolate_settings(env_lookup(self.env))
        self._log.set_level(settings.log_level)
        url = urlsplit(request.url)
        await self._remember_name(header(request.js_object.headers, INSTANCE_HEADER))
        answer = await self._internal(url.path, url.query, settings)
        if answer is not None:
            return json_response(answer)
        request_id = request_id_for(header(request.js_object.headers, "x-request-id"))
        target = url.path + (f"?{url.query}" if url.query else "")
        dialect = dialect_for(url.path)
        limits = Limits(settings.max_request_bytes, settings.max_request_seconds, settings.stream_idle_seconds)
        booking = self._booking(header(request.js_object.headers, TICKET_HEADER), request_id, settings)
        if self._supervisor is None:  # an existing LiteLLM (LITELLM_UPSTREAM_URL): same proxy, no lifecycle
            upstream = self._upstream(settings)
            if upstream is None:
                return self._refused(errors.container_unbound(), request_id, dialect, booking)
            return await proxy(*upstream, request, target, request_id, limits, dialect, self._log, lambda: None,
                               booking)

        await self._supervisor.load()
        warm_only = header(request.js_object.headers, WARM_ONLY_HEADER)
        if warm_only and not self._supervisor.serving:  # the edge will ask a sibling
            if warm_only == "boot":
                self._supervisor.boot_in_background(
                    self._timeouts(settings), self._container_env(settings))
            return Response(None, status=503, headers={COLD_HEADER: "1"})
        self._activity.begin()
        handed_off = False
        try:
            failure = await self._supervisor.ensure_ready(
                self._timeouts(settings), self._container_env(settings))
            if failure is not None:
                return self._refused(failure, request_id, dialect, booking)
            upstream = self._upstream(settings)
            if upstream is None:  # exited between its readiness and now
                return self._refused(errors.upstream_unreachable(), request_id, dialect, booking)
            response = await proxy(*upstream, request, target, request_id, limits, dialect, self._log,
                                   self._activity.end, booking)
            handed_off = True  # proxy has released in-flight, or will once the client has the whole body
            return response
        finally:
            if not handed_off:
                self._activity.end()

    async def alarm(self, alarm_info: Any = None) -> None:
        """The idle timer: stop the container after SLEEP_AFTER with nothing in flight."""
        if self._supervisor is None:
            return
        await self._supervisor.load()
        if not self._supervisor.container.running:
            return
        settings = isolate_settings(env_lookup(self.env))
        next_check = idle_check(now_ms(), self._activity.last_ms, self._activity.inflight, settings.sleep_after_ms)
        if self._name is None:
            stored = await self.ctx.storage.get(NAME_KEY)
            self._name = stored if isinstance(stored, str) else None
        if next_check is None and is_warm_floor(self._name, settings.min_warm_instances):
            next_check = now_ms() + settings.sleep_after_ms  # MIN_WARM_INSTANCES: this one stays up
        if next_check is None:
            await self._supervisor.stop(ExitReason.IDLE, STOP_GRACE_MS)
        else:
            await self.ctx.storage.setAlarm(next_check)

    async def _prices(self, settings: Settings) -> dict[str, Price]:
        """Per-token prices by model name, for bookings without LiteLLM's own cost figure: from its model info
        (which also holds upstream URLs: only the prices are kept). Cached; empty while LiteLLM is not running."""
        if self._price_cache is not None and now_ms() < self._price_cache[0]:
            return self._price_cache[1]
        upstream = self._upstream(settings)
        if upstream is None:
            return {}
        send, key = upstream
        try:
            answer = await send(MODEL_INFO_PATH, js_dict({"headers": {"authorization": f"Bearer {key}"}}))
            info = json_scan.loads(str(await answer.text())) if answer.status == 200 else {}
        except (JsException, ValueError):
            info = {}
        prices = prices_from_model_info(info)
        if prices:  # an empty answer (LiteLLM busy, booting) is asked again next time
            self._price_cache = (now_ms() + PRICES_TTL_MS, prices)
            free = unpriced(prices)
            if free:  # once per cache fill: a model without a price is never silently free
                self._log.emit("warning", "models_unpriced", models=free[:50])
        return prices

    def _upstream(self, settings: Settings) -> tuple[Transport, str] | None:
        """Where LiteLLM is, decided here only: this instance's container (once running) or an existing LiteLLM
        (LITELLM_UPSTREAM_URL); with the key it is asked with. None: neither is there to ask."""
        if self._supervisor is None:
            base = settings.upstream_url
            if base is None:
                return None
            return (lambda path, init: js.fetch(base + path, init)), settings.upstream_key
        if not self._supervisor.container.running:
            return None
        port = self._supervisor.container.getTcpPort(CONTAINER_PORT)
        return (lambda path, init: port.fetch(CONTAINER_ORIGIN + path, init)), settings.container_key

    def _booking(self, ticket_header: str | None, request_id: str, settings: Settings) -> Booking | None:
        """The booking the edge asked for (virtual keys bound: every /v1/* request), or None."""
        ticket = Ticket.from_header(ticket_header)
        if ticket is None:
            return None
        return Booking(ticket, request_id, self._ledger_to_book, self._keys, lambda: self._prices(settings), self._log)

    def _ledger(self) -> MasterLedger:
        """The master key's usage served by this instance, in this object's SQLite (made on first use)."""
        if self._master_ledger is None:
            self._master_ledger = MasterLedger(WorkerdSql(self.ctx.storage))
        return self._master_ledger

    async def _ledger_to_book(self) -> MasterLedger:
        """The ledger, after telling the directory this instance holds one (spend reports ask the holders).
        When the directory cannot be told, the booking still lands and the next one tells it."""
        if not self._holder_known and self._name:
            try:
                await self._keys.call(DIRECTORY, "add_ledger_holder", {"instance": self._name})
                self._holder_known = True
            except (JsException, KeyServiceError) as exc:
                self._log.emit("warning", "ledger_holder_unregistered", error=type(exc).__name__)
        return self._ledger()

    @staticmethod
    def _refused(error: errors.GatewayError, request_id: str, dialect: Dialect, booking: Booking | None) -> Response:
        if booking is not None:
            booking.book(error.status, error.code)
        return error_response(error, request_id, dialect)

    async def _remember_name(self, name: str | None) -> None:
        """The edge names the instance on every call; the alarm, which has no request, needs it."""
        if name and name != self._name:
            self._name = name
            await self.ctx.storage.put(NAME_KEY, name)

    async def _report(self, settings: Settings) -> dict[str, object]:
        if self._supervisor is None:
            if settings.upstream_url is None:
                return {"state": State.UNBOUND.value}
            return {"state": State.UPSTREAM.value, "unpriced_models": unpriced(await self._prices(settings))}
        await self._supervisor.load()
        report = {**self._supervisor.report(), "inflight": self._activity.inflight}
        if self._supervisor.container.running:  # never starts one: prices are asked only of a running LiteLLM
            report["unpriced_models"] = unpriced(await self._prices(settings))
        return report

    def _container_env(self, settings: Settings) -> Callable[[], dict[str, str]]:
        """What a boot starts LiteLLM with: read when it starts, not before."""
        return lambda: container_env(env_lookup(self.env), settings.container_key)

    @staticmethod
    def _timeouts(settings: Settings) -> Timeouts:
        return Timeouts(ready_ms=settings.ready_timeout_ms, boot_give_up_ms=BOOT_GIVE_UP_MS,
                        probe_interval_ms=PROBE_INTERVAL_MS, stop_grace_ms=STOP_GRACE_MS,
                        idle_ms=settings.sleep_after_ms)


setattr(LiteLLMContainer, INTERNAL_METHOD, LiteLLMContainer._internal_rpc)  # the RPC name, from the protocol
