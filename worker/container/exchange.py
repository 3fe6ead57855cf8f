"""One request's way through the proxy, decided on CPython (container.proxy is its Pyodide shell).

The shell moves bytes and JS objects; this decides what each turn means: the request is released exactly once on
every path (the in-flight count, then its booking with the status its client got), which error a request that
never got an answer gets, and how a stream that was cut ends. The transport is the shell's seam: anything that
sends a request and gives back a response (the container's port, an existing LiteLLM, a fake in tests).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from durations import now_ms
from jsonlog import EventLog
from rules import errors
from rules.errors import Dialect

if TYPE_CHECKING:  # the relay's protocol (Pyodide only): a type here, so this module imports on CPython
    from bridge.streams import Observer

Transport = Callable[[str, Any], Awaitable[Any]]  # (path + query, request init) -> the upstream's response


class Activity:
    """Requests in flight and the last time one began or ended: what the idle stop decides on."""

    def __init__(self) -> None:
        self.inflight = 0
        self.last_ms = now_ms()

    def begin(self) -> None:
        self.inflight += 1
        self.last_ms = now_ms()

    def end(self) -> None:
        self.inflight -= 1
        self.last_ms = now_ms()


class Meter(Protocol):
    """Books the request (container.booking.Booking): sees a successful answer's body, then its end, once."""

    def observe(self, content_type: str | None, cost_header: str | None, model_group: str | None,
                request_bytes: int) -> Observer | None: ...

    def book(self, status: int, code: str | None = None) -> None: ...


@dataclass(frozen=True)
class Limits:
    max_request_bytes: int
    max_request_seconds: int  # absolute deadline, headers and body included
    stream_idle_seconds: int  # longest silence inside a response body


class IdleGuard:
    """Aborts a response body that has been silent for STREAM_IDLE_SECONDS (streams only: a JSON answer is
    bounded by the deadline alone). One timer per stream, re-armed lazily: chunks only note the time.
    A bare `call_later`, not a task that sleeps: in Pyodide each task step and each cancellation is one more
    event-loop handle (a JS setTimeout and a callable proxy)."""

    def __init__(self, idle_s: float, abort: Callable[[], None]) -> None:
        self._idle_s = idle_s
        self._abort = abort
        self._last = time.monotonic()
        self.tripped = False
        self._loop = asyncio.get_running_loop()
        self._timer = self._loop.call_later(idle_s + 0.01, self._check)

    def touch(self) -> None:
        self._last = time.monotonic()

    def stop(self) -> None:
        self._timer.cancel()  # no timer outlives its stream

    def _check(self) -> None:
        if (wait := self._last + self._idle_s - time.monotonic()) > 0:
            self._timer = self._loop.call_later(wait + 0.01, self._check)
            return
        self.tripped = True
        self._abort()


class Cut(Enum):
    """Why a response body ended before its end (the log's `why`, and the text of the stream's last event)."""

    DEADLINE = "MAX_REQUEST_SECONDS reached"
    IDLE = "no data for STREAM_IDLE_SECONDS"
    LOST = "the connection to LiteLLM was lost"


class Exchange:
    def __init__(self, request_id: str, limits: Limits, dialect: Dialect, log: EventLog,
                 on_done: Callable[[], None], meter: Meter | None) -> None:
        self._request_id = request_id
        self._limits = limits
        self._dialect = dialect
        self._log = log
        self._on_done = on_done
        self._meter = meter
        self.idle: IdleGuard | None = None
        self.released = False

    def release(self, status: int, code: str | None = None) -> None:
        """Once, on every path: the idle timer stops, the in-flight count drops, and the request is booked with
        the status its client got and the gateway's error code, if any. Later calls do nothing."""
        if self.released:
            return
        self.released = True
        if self.idle is not None:
            self.idle.stop()
        self._on_done()
        if self._meter is not None:
            self._meter.book(status, code)

    def unanswered(self, body_too_large: bool, deadline: bool, error_name: str) -> errors.GatewayError:
        """The request never got an answer: its own body went over the limit, the deadline came, or LiteLLM was
        lost (`error_name`: the JS error's class only — its message can name the upstream's address)."""
        if body_too_large:
            error = errors.request_too_large(self._limits.max_request_bytes)
        elif deadline:
            self._log.emit("warning", "request_deadline", request_id=self._request_id)
            error = errors.deadline_exceeded(self._limits.max_request_seconds)
        else:
            self._log.emit("warning", "upstream_lost", request_id=self._request_id, error=error_name)
            error = errors.upstream_unreachable()
        self.release(error.status, error.code)
        return error

    def watch_idle(self, abort: Callable[[], None]) -> IdleGuard:
        """A stream's silence bound, stopped by `release`."""
        self.idle = IdleGuard(self._limits.stream_idle_seconds, abort)
        return self.idle

    def body_ended(self, status: int, failed: bool, deadline: bool, sse: bool) -> bytes | None:
        """The answer's body is over (`failed`: cut short). It is booked with what went by either way; a cut
        stream ends with an error event in its API's format (a JSON body just ends: its status was sent)."""
        if not failed:
            self.release(status)
            return None
        why = Cut.DEADLINE if deadline else Cut.IDLE if self.idle is not None and self.idle.tripped else Cut.LOST
        self.release(status, "stream_interrupted")
        self._log.emit("warning", "stream_interrupted", request_id=self._request_id, why=why.name.lower())
        return error_event(errors.stream_interrupted(why.value), self._dialect) if sse else None


def error_event(error: errors.GatewayError, dialect: Dialect) -> bytes:
    """The last event of an interrupted stream, as each API's SDKs parse one."""
    if dialect is Dialect.ANTHROPIC:
        return f"event: error\ndata: {error.body(dialect)}\n\n".encode()
    return f"data: {error.body(dialect)}\n\n".encode()
