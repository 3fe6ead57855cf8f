from lifecycle import Lifecycle, State, ceil_seconds, idle_check, retry_after_s


def test_boot_ready_and_restart_counts() -> None:
    life = Lifecycle()
    assert life.needs_start() and life.state is State.STOPPED
    assert life.started(1_000) is State.STOPPED
    assert life.state is State.STARTING and life.restarts == 0
    life.became_ready(6_500)
    assert life.state is State.READY and life.last_boot_ms == 5_500 and not life.needs_start()
    life.exited(10_000, requested=False, crashed=True)
    assert life.state is State.FAILED and life.last_exit == "crashed" and life.needs_start()
    life.started(11_000)
    assert life.restarts == 1 and life.starts == 2
    life.became_ready(14_000)
    life.exited(20_000, requested=True, crashed=False)
    assert life.state is State.STOPPED and life.last_exit == "idle"


def test_json_round_trip_and_garbage() -> None:
    life = Lifecycle()
    life.started(5)
    life.became_ready(9)
    restored = Lifecycle.from_json(life.to_json())
    assert restored == life
    assert Lifecycle.from_json("{not json") == Lifecycle()
    assert Lifecycle.from_json('{"state": "exploded"}') == Lifecycle()
    assert Lifecycle.from_json(None) == Lifecycle()


def test_report_has_no_secrets_and_durations() -> None:
    life = Lifecycle()
    life.started(1_000)
    report = life.report(4_000)
    assert report["state"] == "starting" and report["for_ms"] == 3_000 and report["restarts"] == 0
    assert set(report) == {"state", "since_ms", "for_ms", "restarts", "last_boot_ms", "last_exit", "boot_failures"}


def test_idle_check() -> None:
    sleep = 600_000
    assert idle_check(1_000_000, 1_000_000 - sleep, 0, sleep) is None
    assert idle_check(1_000_000, 1_000_000 - sleep + 1, 0, sleep) == 1_000_001
    # A stream in flight postpones a full period, however old the last activity is.
    assert idle_check(1_000_000, 0, 1, sleep) == 1_000_000 + sleep


def test_retry_after_bounds() -> None:
    assert retry_after_s(0, 5_000, 20_000) == 15
    assert retry_after_s(0, 60_000, 20_000) == 1
    assert retry_after_s(None, 0, 120_000) == 30
    assert retry_after_s(0, 1, None) == 20


def test_failed_boots_back_off_and_a_good_boot_resets() -> None:
    life = Lifecycle()
    life.started(0)
    life.exited(1_000, requested=False, crashed=True)  # died while starting
    assert life.boot_failures == 1 and life.restart_wait_ms(1_000) == 2_000
    assert life.restart_wait_ms(2_500) == 500 and life.restart_wait_ms(3_000) == 0
    life.started(3_000)
    life.exited(4_000, requested=False, crashed=True)
    assert life.boot_failures == 2 and life.restart_wait_ms(4_000) == 4_000
    for failures in range(3, 12):
        life.started(0)
        life.exited(0, requested=False, crashed=True)
        assert life.restart_wait_ms(0) == min(60_000, 2_000 * 2 ** (failures - 1))
    life.started(100)
    life.became_ready(200)
    assert life.boot_failures == 0
    life.exited(300, requested=False, crashed=True)  # a crash after being ready restarts at once
    assert life.restart_wait_ms(300) == 0


def test_ceil_seconds() -> None:
    assert [ceil_seconds(ms) for ms in (0, 1, 999, 1000, 1001, 60_000)] == [1, 1, 1, 1, 2, 60]
