"""Race tests for the container supervisor, driven by a fake container on CPython (no JS, no processes)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

from container.lifecycle import ExitReason, State
from container.supervisor import ContainerError, Supervisor, Timeouts
from jsonlog import EventLog

FAST = Timeouts(ready_ms=2_000, boot_give_up_ms=2_000, probe_interval_ms=5, stop_grace_ms=500, idle_ms=60_000)


class FakeContainer:
    """Like ctx.container: start() resolves once placed, ready `boot_s` later; an exit settles monitor()."""

    def __init__(self, boot_s: float = 0.05, becomes_ready: bool = True, sigterm_exit_s: float | None = 0.05) -> None:
        self.boot_s = boot_s
        self.becomes_ready = becomes_ready
        self.sigterm_exit_s = sigterm_exit_s  # None: ignores SIGTERM, only destroy() ends it
        self.running = False
        self.starts = 0
        self.signals: list[int] = []
        self.destroys = 0
        self.probes = 0
        self._ready_at = 0.0
        self._exit: asyncio.Future[None] | None = None

    async def start(self, env: dict[str, str]) -> None:
        assert not self.running, "started while running"
        assert env == {"LITELLM_MASTER_KEY": "k"}
        self.starts += 1
        await asyncio.sleep(0.02)  # the platform takes a moment to place it: `running` is not true at once
        self.running = True
        loop = asyncio.get_running_loop()
        self._ready_at = loop.time() + self.boot_s
        self._exit = loop.create_future()

    async def monitor(self) -> None:
        assert self._exit is not None
        await self._exit

    def signal(self, signo: int) -> None:
        self.signals.append(signo)
        if self.sigterm_exit_s is not None:
            asyncio.get_running_loop().call_later(self.sigterm_exit_s, self.exit)

    async def destroy(self) -> None:
        self.destroys += 1
        self.exit()

    def getTcpPort(self, port: int) -> object:  # the platform's name
        raise AssertionError("the supervisor never proxies")

    async def probe(self) -> bool:
        self.probes += 1
        return self.running and self.becomes_ready and asyncio.get_running_loop().time() >= self._ready_at

    def exit(self, crashed: bool = False) -> None:
        if not self.running or self._exit is None:
            return
        self.running = False
        if crashed:
            self._exit.set_exception(ContainerError("exit code 1"))
        else:
            self._exit.set_result(None)


class MemoryStore:
    def __init__(self) -> None:
        self.text: str | None = None
        self.alarms: list[int] = []

    async def load(self) -> str | None:
        return self.text

    async def save(self, text: str) -> None:
        self.text = text

    async def set_alarm(self, at_ms: int) -> None:
        self.alarms.append(at_ms)


class Clock:
    """Real milliseconds plus a jump the test controls (to pass back-off periods without waiting)."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def __call__(self) -> int:
        return int(asyncio.get_running_loop().time() * 1000) + self.offset_ms


def make(container: FakeContainer, store: MemoryStore | None = None, clock: Clock | None = None) -> Supervisor:
    return Supervisor(container, store or MemoryStore(), container.probe, EventLog("error", "test"),
                      clock=clock or Clock())


def env() -> dict[str, str]:
    return {"LITELLM_MASTER_KEY": "k"}


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Each race test on a fresh event loop (no pytest plugin needed)."""

    @functools.wraps(test)
    def wrapper() -> None:
        asyncio.run(test())

    return wrapper


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


@run
async def test_six_concurrent_requests_share_one_start() -> None:
    container = FakeContainer(boot_s=0.1)
    sup = make(container)
    await sup.load()
    results = await asyncio.gather(*(sup.ensure_ready(FAST, env) for _ in range(6)))
    assert results == [None] * 6
    assert container.starts == 1 and sup.lifecycle.state is State.READY and sup.lifecycle.starts == 1


@run
async def test_boot_slower_than_ready_timeout_answers_starting_and_keeps_booting() -> None:
    container = FakeContainer(boot_s=0.3)
    sup = make(container)
    await sup.load()
    failure = await sup.ensure_ready(Timeouts(**{**FAST.__dict__, "ready_ms": 50}), env)
    assert failure is not None and failure.status == 503 and failure.code == "container_starting"
    assert failure.retry_after_s is not None and 1 <= failure.retry_after_s <= 5
    assert await sup.ensure_ready(FAST, env) is None  # the same boot went on
    assert container.starts == 1 and container.signals == []


@run
async def test_boot_that_exits_backs_off_until_retry_after() -> None:
    container = FakeContainer(boot_s=10)
    clock = Clock()
    sup = make(container, clock=clock)
    await sup.load()
    booting = asyncio.ensure_future(sup.ensure_ready(FAST, env))
    await settle()
    container.exit(crashed=True)  # dies before it was ever ready
    failure = await booting
    assert failure is not None and failure.code == "container_failed" and failure.retry_after_s == 2
    assert sup.lifecycle.last_exit is ExitReason.FAILED_BOOT and sup.lifecycle.boot_failures == 1
    again = await sup.ensure_ready(FAST, env)
    assert again is not None and again.code == "container_failed" and container.starts == 1  # no restart yet
    clock.offset_ms += 2_000
    container.boot_s = 0.01
    assert await sup.ensure_ready(FAST, env) is None and container.starts == 2
    assert sup.lifecycle.boot_failures == 0


@run
async def test_crash_while_serving_restarts_at_once() -> None:
    container = FakeContainer()
    sup = make(container)
    await sup.load()
    assert await sup.ensure_ready(FAST, env) is None
    container.exit(crashed=True)
    await settle()
    assert sup.lifecycle.state is State.FAILED and sup.lifecycle.last_exit is ExitReason.CRASHED
    assert sup.lifecycle.restart_wait_ms(0) == 0
    assert await sup.ensure_ready(FAST, env) is None and container.starts == 2


@run
async def test_clean_exit_nobody_asked_for_is_a_shutdown() -> None:
    container = FakeContainer()
    sup = make(container)
    await sup.load()
    assert await sup.ensure_ready(FAST, env) is None
    container.exit()
    await settle()
    assert sup.lifecycle.state is State.STOPPED and sup.lifecycle.last_exit is ExitReason.SHUTDOWN


@run
async def test_request_racing_an_idle_stop_waits_for_the_exit_and_boots_afresh() -> None:
    container = FakeContainer(sigterm_exit_s=0.1)
    sup = make(container)
    await sup.load()
    assert await sup.ensure_ready(FAST, env) is None
    stopping = asyncio.ensure_future(sup.stop(ExitReason.IDLE, FAST.stop_grace_ms))
    await asyncio.sleep(0.01)
    assert container.running  # still shutting down when the request arrives
    assert await sup.ensure_ready(FAST, env) is None
    await stopping
    assert container.starts == 2 and container.running and sup.lifecycle.state is State.READY
    assert sup.lifecycle.last_exit is ExitReason.IDLE and sup.lifecycle.boot_failures == 0


@run
async def test_boot_never_ready_is_stopped_and_counted_as_failed() -> None:
    container = FakeContainer(becomes_ready=False)
    sup = make(container)
    await sup.load()
    failure = await sup.ensure_ready(Timeouts(**{**FAST.__dict__, "boot_give_up_ms": 100}), env)
    assert failure is not None and failure.code == "container_failed" and failure.retry_after_s == 2
    assert container.signals == [15] and not container.running
    assert sup.lifecycle.state is State.FAILED and sup.lifecycle.last_exit is ExitReason.BOOT_TIMEOUT
    assert sup.lifecycle.boot_failures == 1 and sup.report()["last_exit"] == "boot_timeout"


@run
async def test_stop_destroys_a_container_that_ignores_sigterm() -> None:
    container = FakeContainer(sigterm_exit_s=None)
    sup = make(container)
    await sup.load()
    assert await sup.ensure_ready(FAST, env) is None
    await sup.stop(ExitReason.IDLE, 50)
    await settle()
    assert container.destroys == 1 and sup.lifecycle.state is State.STOPPED


@run
async def test_object_evicted_and_reloaded_while_the_container_runs() -> None:
    container, store = FakeContainer(), MemoryStore()
    first = make(container, store)
    await first.load()
    assert await first.ensure_ready(FAST, env) is None
    reloaded = make(container, store)  # a new object instance, same storage and container
    await reloaded.load()
    assert reloaded.lifecycle.state is State.READY
    assert await reloaded.ensure_ready(FAST, env) is None and container.starts == 1
    container.exit(crashed=True)
    await settle()
    assert reloaded.lifecycle.last_exit is ExitReason.CRASHED


@run
async def test_reload_after_the_container_died_unobserved() -> None:
    container, store = FakeContainer(), MemoryStore()
    first = make(container, store)
    await first.load()
    assert await first.ensure_ready(FAST, env) is None
    container.running = False  # it went away while no object was watching
    reloaded = make(container, store)
    await reloaded.load()
    assert reloaded.lifecycle.state is State.FAILED and reloaded.lifecycle.last_exit is ExitReason.UNOBSERVED


@run
async def test_ready_boot_arms_the_idle_alarm() -> None:
    container, store = FakeContainer(), MemoryStore()
    sup = make(container, store)
    await sup.load()
    assert await sup.ensure_ready(FAST, env) is None
    assert len(store.alarms) == 1


@run
async def test_a_boot_prepares_once_before_any_request_and_serves_even_if_preparing_hangs_or_fails() -> None:
    """on_ready (the Durable Object's price fetch) runs once per boot, after LiteLLM answers and before any waiter
    is let through; one that hangs is cut at Timeouts.on_ready_ms and one that fails is logged: both still serve."""
    seen: list[str] = []
    container = FakeContainer(boot_s=0.05)

    async def prepare() -> None:
        seen.append("ready" if await container.probe() else "early")
        await asyncio.sleep(0.05)
        seen.append("prepared")

    sup = Supervisor(container, MemoryStore(), container.probe, EventLog("error", "test"), clock=Clock(),
                     on_ready=prepare)
    await sup.load()
    results = await asyncio.gather(*(sup.ensure_ready(FAST, env) for _ in range(3)))
    assert results == [None] * 3 and seen == ["ready", "prepared"]  # before the waiters, once
    assert await sup.ensure_ready(FAST, env) is None and seen == ["ready", "prepared"]  # not per request

    for failing in (asyncio.Event().wait, lambda: asyncio.sleep(0, result=1 / 0)):
        other = FakeContainer(boot_s=0.01)
        quick = Timeouts(ready_ms=2_000, boot_give_up_ms=2_000, probe_interval_ms=5, stop_grace_ms=500,
                         idle_ms=60_000, on_ready_ms=100)
        sup = Supervisor(other, MemoryStore(), other.probe, EventLog("error", "test"), clock=Clock(),
                         on_ready=failing)
        await sup.load()
        assert await sup.ensure_ready(quick, env) is None and sup.lifecycle.state is State.READY
