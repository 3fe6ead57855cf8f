"""The container's lifecycle as the Durable Object knows it, and the decisions taken on it.

Pure: times are passed in (epoch milliseconds), so every decision is unit-testable in CPython.

    stopped --start--> starting --probe ok--> ready --exit--> stopped (idle stop) / failed (crash)
       ^                  |                                       |
       +------------------+-- exit while booting --> failed ------+-- next request starts again
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum

FIRST_RESTART_BACKOFF_MS = 2_000
MAX_RESTART_BACKOFF_MS = 60_000


class State(StrEnum):
    UNBOUND = "unbound"  # no container binding at all (reported by the edge, never stored)
    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"


@dataclass
class Lifecycle:
    state: State = State.STOPPED
    since_ms: int = 0
    starts: int = 0
    restarts: int = 0  # starts after the first: crashes and idle stops both count
    boot_started_ms: int | None = None
    last_boot_ms: int | None = None  # start -> ready, of the last successful boot
    last_exit: str | None = None  # "idle", "crashed", "exited" (clean exit nobody asked for)
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

    def exited(self, now_ms: int, *, requested: bool, crashed: bool) -> State:
        """Records an exit: a stop we asked for is `stopped`; anything else is `failed`."""
        previous = self.state
        if requested:
            self.last_exit = "idle"
            self._move(State.STOPPED, now_ms)
        else:
            self.last_exit = "crashed" if crashed else "exited"
            if previous is State.STARTING:
                self.boot_failures += 1
            self._move(State.FAILED, now_ms)
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

    def _move(self, state: State, now_ms: int) -> None:
        self.state = state
        self.since_ms = now_ms

    def needs_start(self) -> bool:
        return self.state in (State.STOPPED, State.FAILED)

    def to_json(self) -> str:
        data = asdict(self)
        data["state"] = self.state.value
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str | None) -> Lifecycle:
        """Restores what storage holds; anything unreadable starts afresh rather than failing requests."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            data["state"] = State(data["state"])
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
            "last_exit": self.last_exit,
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


def retry_after_s(boot_started_ms: int | None, now_ms: int, typical_boot_ms: int | None) -> int:
    """Retry-After for a 503 during boot: the expected remaining boot time, at least 1 s, at most 30 s."""
    expected = typical_boot_ms or 20_000
    elapsed = now_ms - boot_started_ms if boot_started_ms is not None else 0
    remaining_s = (expected - elapsed + 999) // 1000
    return int(min(30, max(1, remaining_s)))
