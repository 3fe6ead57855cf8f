"""The container's lifecycle as the Durable Object knows it, and the decisions taken on it.

Pure: times are passed in (epoch milliseconds), so every decision is unit-testable in CPython.

    stopped --start--> starting --probe ok--> ready --exit--> stopped (idle, shutdown) / failed (crashed)
       ^                  |                                       |
       +------------------+-- boot_timeout, failed_boot --> failed +-- next request starts again

Boots that end in `failed` (counted in `boot_failures`) hold off the next start: 2 s, doubling, 60 s at most.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum

FIRST_RESTART_BACKOFF_MS = 2_000
MAX_RESTART_BACKOFF_MS = 60_000
UNKNOWN_BOOT_RETRY_AFTER_S = 2  # first boot of an instance: no measured boot time to go by yet
MAX_BOOT_RETRY_AFTER_S = 5  # a retry waits for readiness again, so a short hint never costs a failure


class State(StrEnum):
    UNBOUND = "unbound"  # no container binding and no upstream URL (reported, never stored)
    UPSTREAM = "upstream"  # no container binding: an existing LiteLLM is fronted (reported, never stored)
    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"


# What /health counts as healthy: every state but these two degrades it.
HEALTHY_STATES = frozenset(State) - {State.UNBOUND, State.FAILED}


class ExitReason(StrEnum):
    IDLE = "idle"  # stopped by us after SLEEP_AFTER with nothing in flight
    BOOT_TIMEOUT = "boot_timeout"  # stopped by us: never became ready
    FAILED_BOOT = "failed_boot"  # exited on its own before it was ready
    CRASHED = "crashed"  # exited with an error while serving
    SHUTDOWN = "shutdown"  # exited cleanly while serving without us asking (e.g. the platform stopped it)
    UNOBSERVED = "unobserved"  # found gone after the Durable Object was evicted: how it ended is unknown


_FAILED_BOOTS = frozenset({ExitReason.BOOT_TIMEOUT, ExitReason.FAILED_BOOT})
_STOPPED = frozenset({ExitReason.IDLE, ExitReason.SHUTDOWN})


@dataclass
class Lifecycle:
    state: State = State.STOPPED
    since_ms: int = 0
    starts: int = 0
    restarts: int = 0  # starts after the first: crashes and idle stops both count
    boot_started_ms: int | None = None
    last_boot_ms: int | None = None  # start -> ready, of the last successful boot
    last_exit: ExitReason | None = None
    boot_failures: int = 0  # consecutive boots that ended before LiteLLM was ready

    def started(self, now_ms: int) -> State:
        previous = self.state
        self.starts += 1
        if self.starts > 1:
            self.restarts += 1
        self.boot_started_ms = now_ms
        self._move(State.STARTING, now_ms)
        return previous

    def became_ready(self, now_ms: int) -> State:
        previous = self.state
        if self.boot_started_ms is not None:
            self.last_boot_ms = now_ms - self.boot_started_ms
        self.boot_failures = 0
        self._move(State.READY, now_ms)
        return previous

    def exited(self, now_ms: int, reason: ExitReason) -> State:
        """Records an exit: idle and shutdown leave it `stopped`; failed boots count towards back-off."""
        previous = self.state
        self.last_exit = reason
        if reason in _FAILED_BOOTS:
            self.boot_failures += 1
        self._move(State.STOPPED if reason in _STOPPED else State.FAILED, now_ms)
        return previous

    def restart_wait_ms(self, now_ms: int) -> int:
        """How long to hold off the next start after boots that failed: 2 s, doubling, at most 60 s.

        A LiteLLM that cannot boot (a bad config, a missing key it insists on) would otherwise be
        started again by every request, each start burning ~5 s of CPU for nothing.
        """
        if self.state is not State.FAILED or self.boot_failures == 0:
            return 0
        backoff = min(MAX_RESTART_BACKOFF_MS, FIRST_RESTART_BACKOFF_MS * 2 ** (self.boot_failures - 1))
        return max(0, self.since_ms + backoff - now_ms)

    def boot_retry_after_s(self, now_ms: int) -> int:
        """Retry-After for a 503 while booting: the boot's expected remaining time, 1..5 s.

        Re-estimated on every answer from the elapsed time; kept short because a retried request waits
        for readiness again, so a client lands within about a second of LiteLLM being ready.
        """
        if self.last_boot_ms is None or self.boot_started_ms is None:
            return UNKNOWN_BOOT_RETRY_AFTER_S
        remaining_ms = self.last_boot_ms - (now_ms - self.boot_started_ms)
        return min(MAX_BOOT_RETRY_AFTER_S, ceil_seconds(remaining_ms))

    def _move(self, state: State, now_ms: int) -> None:
        self.state = state
        self.since_ms = now_ms

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> Lifecycle:
        """Restores what storage holds; anything unreadable starts afresh rather than failing requests."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            data["state"] = State(data["state"])
            if data.get("last_exit") is not None:
                data["last_exit"] = ExitReason(data["last_exit"])
            return cls(**data)
        except (ValueError, TypeError, KeyError):
            return cls()

    def report(self, now_ms: int) -> dict[str, object]:
        """What /health shows: no keys, no URLs."""
        return {
            "state": self.state.value,
            "since_ms": self.since_ms,
            "for_ms": max(0, now_ms - self.since_ms) if self.since_ms else None,
            "restarts": self.restarts,
            "last_boot_ms": self.last_boot_ms,
            "last_exit": self.last_exit.value if self.last_exit else None,
            "boot_failures": self.boot_failures,
        }


def idle_check(now_ms: int, last_activity_ms: int, inflight: int, sleep_after_ms: int) -> int | None:
    """When the idle alarm fires: None means stop the container now, a number is when to check again.

    A request in flight (a long stream included) always postpones the stop by a full period.
    """
    if inflight > 0:
        return now_ms + sleep_after_ms
    idle_until = last_activity_ms + sleep_after_ms
    return None if now_ms >= idle_until else idle_until


def ceil_seconds(ms: int) -> int:
    """A Retry-After value: whole seconds, rounded up, at least 1."""
    return max(1, -(-ms // 1000))
