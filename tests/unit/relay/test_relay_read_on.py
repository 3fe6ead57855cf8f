"""streams.relay in real Pyodide on Node's streams: after the client leaves, the upstream is read on for the
usage when the answer's end has gone by, and stopped at once mid-generation (relay_scenarios.py)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
RUNNER = Path(__file__).with_name("relay_in_pyodide.mjs")
READ_ON_MS = 1000  # relay_scenarios.READ_ON_S
SLACK_MS = 400  # timers on a shared 2-core machine: still well apart from "at once" and "at the bound"


@pytest.fixture(scope="module")
def outcome() -> dict[str, dict]:
    if shutil.which("node") is None or not (ROOT / "node_modules/pyodide").is_dir():
        pytest.skip("needs node and `make install`")
    out = subprocess.run(["node", str(RUNNER)], capture_output=True, text=True, timeout=120, check=True).stdout
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {line["name"]: line for line in lines}


def test_a_client_that_leaves_after_the_finish_chunk_leaves_the_upstream_to_its_usage(outcome: dict) -> None:
    case = outcome["left_after_finish"]
    assert case["waited_for_usage"]  # not cancelled in the 150 ms before the usage chunk came
    assert 150 <= case["cancelled_ms"] < 150 + SLACK_MS < READ_ON_MS  # then stopped at once, not at the bound
    assert case["ended"][0] is False and case["ended"][1] >= case["cancelled_ms"]  # booked after the read-on
    assert case["served"] == [40, 9, False]  # the upstream's own count


def test_a_client_that_leaves_mid_generation_stops_the_upstream_and_is_estimated(outcome: dict) -> None:
    case = outcome["left_mid_generation"]
    assert not case["waited_for_usage"] and case["cancelled_ms"] < SLACK_MS
    assert case["ended"][0] is False  # a client leaving is no upstream failure: no error event, no warning
    assert case["served"] == [101, 3, True]  # 401 request bytes / 4, 12 bytes of text / 4, rounded up


def test_a_usage_that_never_comes_is_waited_for_a_bounded_time(outcome: dict) -> None:
    case = outcome["usage_never_came"]
    # Timed from when the client's cancel returned, a moment after the read-on began.
    assert READ_ON_MS - 20 <= case["cancelled_ms"] < READ_ON_MS + SLACK_MS
    assert case["served"] == [101, 3, True]


def test_an_upstream_failure_still_ends_the_stream_with_the_error_event(outcome: dict) -> None:
    case = outcome["upstream_failed"]
    assert case["ended"][0] is True and case["tail"].endswith("data: closing\n\n")


def test_a_stream_read_to_its_end_is_booked_from_its_usage(outcome: dict) -> None:
    case = outcome["ended_normally"]
    assert case["ended"][0] is False and case["cancelled_ms"] is None
    assert case["served"] == [40, 9, False] and case["tail"].endswith("data: [DONE]\n\n")


def test_an_event_held_back_for_its_end_still_reaches_the_client_when_the_stream_ends_without_it(outcome: dict) -> None:
    case = outcome["last_event_unterminated"]
    assert case["ended"][0] is False and case["served"] == [40, 9, False]
    assert case["tail"].endswith("data: [DONE]")  # from the observer's flush: passed on as it came


def test_relays_in_flight_at_once_each_meter_their_own_stream(outcome: dict) -> None:
    case = outcome["interleaved"]
    assert case["served"] == [[10, 20], [11, 21]] and case["own_text"] == [True, True]
