"""container.exchange on CPython: what each turn of a proxied request means (the Pyodide shell only moves bytes).

Each test names the break it guards: releasing twice, booking the wrong status, the wrong error for a request
that got no answer, a cut stream that ends silently, an idle timer that outlives its stream.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from container.exchange import Exchange, IdleGuard, Limits, error_event
from jsonlog import EventLog
from rules import errors
from rules.errors import Dialect

LIMITS = Limits(max_request_bytes=1000, max_request_seconds=30, stream_idle_seconds=60)


class Meter:
    def __init__(self) -> None:
        self.booked: list[tuple[int, str | None]] = []

    def observe(self, *_: object) -> None:
        return None

    def book(self, status: int, code: str | None = None) -> None:
        self.booked.append((status, code))


def exchange(meter: Meter, done: list[int], dialect: Dialect = Dialect.OPENAI) -> Exchange:
    return Exchange("req-1", LIMITS, dialect, EventLog("debug", "test"), lambda: done.append(1), meter)


def events(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_released_once_whatever_happens_after() -> None:
    meter, done = Meter(), []
    turn = exchange(meter, done)
    turn.release(200)
    turn.release(502, "upstream_unreachable")
    turn.body_ended(200, failed=True, deadline=True, sse=True)
    assert done == [1] and meter.booked == [(200, None)]


@pytest.mark.parametrize(("too_large", "deadline", "status", "code", "event"), [
    (True, True, 413, "request_too_large", None),  # its own body went over: that, whatever else happened
    (False, True, 504, "deadline_exceeded", "request_deadline"),
    (False, False, 502, "upstream_unreachable", "upstream_lost"),
])
def test_a_request_without_an_answer_gets_one_error_and_is_booked_with_it(
        capsys: pytest.CaptureFixture[str], too_large: bool, deadline: bool, status: int, code: str,
        event: str | None) -> None:
    meter, done = Meter(), []
    error = exchange(meter, done).unanswered(too_large, deadline, "TypeError")
    assert (error.status, error.code) == (status, code) and meter.booked == [(status, code)] and done == [1]
    logged = events(capsys)
    assert [line["event"] for line in logged] == ([event] if event else [])
    assert all(set(line) <= {"ts", "level", "component", "event", "request_id", "error"} for line in logged)


def test_a_finished_body_is_booked_with_the_upstreams_status() -> None:
    meter, done = Meter(), []
    assert exchange(meter, done).body_ended(201, failed=False, deadline=False, sse=True) is None
    assert meter.booked == [(201, None)]


@pytest.mark.parametrize(("deadline", "tripped", "why", "text"), [
    (True, False, "deadline", "MAX_REQUEST_SECONDS"), (False, True, "idle", "STREAM_IDLE_SECONDS"),
    (False, False, "lost", "connection to LiteLLM was lost")])
def test_a_cut_stream_ends_with_an_error_event_and_says_why(capsys: pytest.CaptureFixture[str], deadline: bool,
                                                            tripped: bool, why: str, text: str) -> None:
    async def cut() -> bytes | None:
        turn = exchange(meter, done)
        guard = turn.watch_idle(lambda: None)
        guard.tripped = tripped
        return turn.body_ended(200, failed=True, deadline=deadline, sse=True)

    meter, done = Meter(), []
    last = asyncio.run(cut())
    assert last is not None and last.startswith(b"data: ") and text.encode() in last
    assert json.loads(last[6:])["error"]["code"] == "stream_interrupted"
    assert meter.booked == [(200, "stream_interrupted")]
    assert [line["why"] for line in events(capsys) if line["event"] == "stream_interrupted"] == [why]


def test_a_cut_json_body_just_ends_but_is_booked_as_cut() -> None:
    meter, done = Meter(), []
    assert exchange(meter, done).body_ended(200, failed=True, deadline=False, sse=False) is None
    assert meter.booked == [(200, "stream_interrupted")]


def test_an_anthropic_stream_ends_with_an_anthropic_error_event() -> None:
    event = error_event(errors.stream_interrupted("x"), Dialect.ANTHROPIC)
    assert event.startswith(b"event: error\ndata: ")
    assert json.loads(event.split(b"data: ", 1)[1])["error"]["type"] == "api_error"


def test_the_idle_guard_trips_only_after_silence_and_never_after_release() -> None:
    async def run() -> tuple[list[str], list[str]]:
        aborted: list[str] = []
        guard = IdleGuard(0.05, lambda: aborted.append("idle"))
        for _ in range(4):  # chunks keep it quiet for 4x its bound
            await asyncio.sleep(0.03)
            guard.touch()
        before = list(aborted)
        await asyncio.sleep(0.12)
        released: list[str] = []
        turn = exchange(Meter(), [])
        turn.watch_idle(lambda: released.append("idle"))
        turn.release(200)
        await asyncio.sleep(0.12)
        return before + aborted, released

    seen, after_release = asyncio.run(run())
    assert seen == ["idle"] and after_release == []
