"""Supervises one container: starts it once for all waiters, probes readiness, backs off, stops, watches exits.

Pure asyncio over two small protocols (the container handle and the state store), so CPython tests drive it
with fakes; `container_adapter.py` implements both over the Durable Object's JS objects.

Rules of the state (which field means what, and who may change it):

| field          | means                                               | changed by                              |
|----------------|-----------------------------------------------------|-----------------------------------------|
| `lifecycle`    | persisted state, counts, last exit (for /health)    | `_record` only                          |
| `_boot`        | the one start + readiness wait all requests share   | set by `ensure_ready`, cleared by boot  |
| `_exit`        | settles when the run being watched exits            | `_watch` (at start and at reload)       |
| `_generation`  | which run an exit belongs to: older ones are ignored| `_watch` (+1)                           |
| `_stop_reason` | why we are stopping the current run                 | `stop`; cleared by that run's exit      |
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from container.lifecycle import ExitReason, Lifecycle, State, ceil_seconds
from durations import now_ms
from jsonlog import EventLog
from rules import errors

SIGTERM = 15


class ContainerError(Exception):
    """The platform refused an operation on the container, or the container ended with an error."""


class TcpPort(Protocol):
    def fetch(self, url: str, init: Any) -> Awaitable[Any]: ...


class ContainerHandle(Protocol):
    """The parts of `ctx.container` the gateway uses (Cloudflare Containers' Durable Object API)."""

    @property
    def running(self) -> bool: ...

    async def start(self, env: dict[str, str]) -> None: ...

    async def monitor(self) -> None:
        """Returns when the container exits cleanly; raises ContainerError when it ends with an error."""

    def signal(self, signo: int) -> None: ...

    async def destroy(self) -> None: ...

    def getTcpPort(self, port: int) -> TcpPort: ...  # the platform's name


class StateStore(Protocol):
    async def load(self) -> str | None: ...

    async def save(self, text: str) -> None: ...

    async def set_alarm(self, at_ms: int) -> None: ...


@dataclass(frozen=True)
class Timeouts:
    """Every wait the supervisor does, named (the platform's own defaults in durable_object.py)."""

    ready_ms: int  # how long one request waits for a boot before 503 container_starting (READY_TIMEOUT)
    boot_give_up_ms: int  # a boot not ready by then is stopped and counted as failed
    probe_interval_ms: int  # between readiness probes
    stop_grace_ms: int  # SIGTERM, then destroy
    idle_ms: int  # the first idle check after a boot (SLEEP_AFTER)
    on_ready_ms: int = 5_000  # the most a boot waits for its `on_ready` work before it serves regardless


class Supervisor:
    def __init__(self, container: ContainerHandle, store: StateStore, probe: Callable[[], Awaitable[bool]],
                 log: EventLog, clock: Callable[[], int] = now_ms,
                 on_ready: Callable[[], Awaitable[object]] | None = None) -> None:
        """`on_ready`: what a boot does once LiteLLM answers, before any request is sent to it (bounded by
        Timeouts.on_ready_ms; whatever it does, the boot is ready)."""
        self.container = container
        self._on_ready = on_ready
        self.lifecycle = Lifecycle()
        self._store = store
        self._probe = probe
        self._log = log
        self._clock = clock
        self._loaded = False
        self._boot: asyncio.Future[bool] | None = None
        self._exit: asyncio.Future[None] | None = None
        self._generation = 0
        self._stop_reason: ExitReason | None = None
        self._background: asyncio.Future[errors.GatewayError | None] | None = None  # a boot nobody awaits

    async def load(self) -> None:
        """Restores the lifecycle after the object was evicted; the container may have outlived it."""
        if self._loaded:
            return
        self._loaded = True
        self.lifecycle = Lifecycle.from_json(await self._store.load())
        if self.container.running:
            self._watch()  # readiness is re-probed by the next request unless it was ready
            if self.lifecycle.state not in (State.STARTING, State.READY):
                await self._record(self.lifecycle.started)
        elif self.lifecycle.state in (State.STARTING, State.READY):
            reason = ExitReason.FAILED_BOOT if self.lifecycle.state is State.STARTING else ExitReason.UNOBSERVED
            await self._record(lambda t: self.lifecycle.exited(t, reason))

    @property
    def ready(self) -> bool:
        return self.lifecycle.state is State.READY and self.container.running

    @property
    def serving(self) -> bool:
        """Ready, and not being stopped: a request sent now is answered by this run."""
        return self.ready and self._stop_reason is None

    def boot_in_background(self, timeouts: Timeouts, env: Callable[[], dict[str, str]]) -> None:
        """Starts a boot nobody waits for (warm-sibling routing: a sibling serves meanwhile)."""
        if self._boot is None and not self.ready:
            self._background = asyncio.ensure_future(self.ensure_ready(timeouts, env))

    async def ensure_ready(self, timeouts: Timeouts, env: Callable[[], dict[str, str]]) -> errors.GatewayError | None:
        """Waits until LiteLLM answers, starting it if needed; a GatewayError says why it cannot serve now."""
        if self._stop_reason is not None and self._exit is not None and not self._exit.done():
            # A stop is under way: let LiteLLM finish exiting, then boot afresh, rather than send this
            # request into a shutting-down process (a 502 for a client that did nothing wrong).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._exit), timeouts.stop_grace_ms / 1000)
        if self.ready:
            return None
        if self._boot is None:
            hold_off_ms = self.lifecycle.restart_wait_ms(self._clock())
            if hold_off_ms > 0:  # the last boots failed: do not start again on every request
                return errors.container_failed(ceil_seconds(hold_off_ms))
            self._boot = asyncio.ensure_future(self._boot_container(timeouts, env))
        try:
            ready = await asyncio.wait_for(asyncio.shield(self._boot), timeouts.ready_ms / 1000)
        except TimeoutError:
            return errors.container_starting(self.lifecycle.boot_retry_after_s(self._clock()))
        if ready:
            return None
        return errors.container_failed(ceil_seconds(self.lifecycle.restart_wait_ms(self._clock())))

    async def stop(self, reason: ExitReason, grace_ms: int) -> None:
        """SIGTERM, then destroy if it has not exited within the grace period; the exit records `reason`."""
        self._stop_reason = reason
        self._log.emit("info", "container_stop", reason=reason.value)
        with contextlib.suppress(ContainerError):
            self.container.signal(SIGTERM)
            if self._exit is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(self._exit), grace_ms / 1000)
                    return
                except TimeoutError:
                    pass
            await self.container.destroy()

    def report(self) -> dict[str, object]:
        return self.lifecycle.report(self._clock())

    async def _boot_container(self, timeouts: Timeouts, env: Callable[[], dict[str, str]]) -> bool:
        try:
            if not self.container.running:
                self._stop_reason = None
                await self.container.start(env())
                self._watch()
                await self._record(self.lifecycle.started)
            exit_future = self._exit
            deadline = self._clock() + timeouts.boot_give_up_ms
            while self._clock() < deadline:
                if exit_future is not None and exit_future.done():
                    return False
                if await self._probe():
                    await self._prepare(timeouts)
                    await self._record(self.lifecycle.became_ready)
                    await self._store.set_alarm(self._clock() + timeouts.idle_ms)
                    return True
                await asyncio.sleep(timeouts.probe_interval_ms / 1000)
            await self.stop(ExitReason.BOOT_TIMEOUT, timeouts.stop_grace_ms)
            return False
        except ContainerError as exc:
            self._log.emit("error", "container_start_failed", error=str(exc)[:200])
            return False
        finally:
            self._boot = None

    async def _prepare(self, timeouts: Timeouts) -> None:
        """The boot's `on_ready` work, bounded: a LiteLLM that answers probes but not this still serves."""
        if self._on_ready is None:
            return
        try:
            await asyncio.wait_for(self._on_ready(), timeouts.on_ready_ms / 1000)
        except Exception as exc:  # never a reason to fail a boot that is ready
            self._log.emit("warning", "boot_preparation_failed", error=type(exc).__name__)

    def _watch(self) -> None:
        """Follows one container run until it exits; the next request then starts a new one."""
        self._generation += 1
        generation = self._generation

        async def watch() -> None:
            crashed = False
            try:
                await self.container.monitor()
            except ContainerError:
                crashed = True
            if generation != self._generation:
                return
            reason = self._stop_reason
            self._stop_reason = None
            if reason is None:
                if self.lifecycle.state is State.STARTING:
                    reason = ExitReason.FAILED_BOOT
                else:
                    reason = ExitReason.CRASHED if crashed else ExitReason.SHUTDOWN
            await self._record(lambda t: self.lifecycle.exited(t, reason))

        self._exit = asyncio.ensure_future(watch())

    async def _record(self, change: Callable[[int], State]) -> None:
        """Applies a lifecycle change, logs the transition and persists it (for /health after eviction)."""
        previous = change(self._clock())
        self._log.emit("info", "container_state", previous=previous.value, state=self.lifecycle.state.value,
                       restarts=self.lifecycle.restarts, boot_ms=self.lifecycle.last_boot_ms,
                       exit=self.lifecycle.last_exit.value if self.lifecycle.last_exit else None)
        await self._store.save(self.lifecycle.to_json())
