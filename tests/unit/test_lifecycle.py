from container.lifecycle import HEALTHY_STATES, ExitReason, Lifecycle, State, ceil_seconds, idle_check


def test_boot_ready_and_restart_counts() -> None:
    life = Lifecycle()
    assert life.state is State.STOPPED
    assert life.started(1_000) is State.STOPPED
    assert life.state is State.STARTING and life.restarts == 0
    life.became_ready(6_500)
    assert life.state is State.READY and life.last_boot_ms == 5_500
    life.exited(10_000, ExitReason.CRASHED)
    assert life.state is State.FAILED and life.last_exit == "crashed"
    life.started(11_000)
    assert life.restarts == 1 and life.starts == 2
    life.became_ready(14_000)
    life.exited(20_000, ExitReason.IDLE)
    assert life.state is State.STOPPED and life.last_exit == "idle" and life.boot_failures == 0


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


def test_boot_retry_after_is_short_and_tracks_the_boot() -> None:
    life = Lifecycle()
    life.started(0)
    assert life.boot_retry_after_s(1) == 2  # first boot: nothing measured yet, a short hint
    life.became_ready(4_000)
    life.exited(5_000, ExitReason.IDLE)
    life.started(10_000)
    assert life.boot_retry_after_s(10_500) == 4  # 3.5 s of a 4 s boot left, rounded up
    assert life.boot_retry_after_s(13_900) == 1
    assert life.boot_retry_after_s(30_000) == 1  # slower than last time: retry soon, not never
    life.last_boot_ms = 120_000
    assert life.boot_retry_after_s(10_000) == 5  # capped: a retry waits for readiness again anyway


def test_exit_reasons_decide_state_and_back_off() -> None:
    for reason, state, failures in [
        (ExitReason.IDLE, State.STOPPED, 0), (ExitReason.SHUTDOWN, State.STOPPED, 0),
        (ExitReason.CRASHED, State.FAILED, 0), (ExitReason.UNOBSERVED, State.FAILED, 0),
        (ExitReason.BOOT_TIMEOUT, State.FAILED, 1), (ExitReason.FAILED_BOOT, State.FAILED, 1),
    ]:
        life = Lifecycle()
        life.started(0)
        life.exited(100, reason)
        assert (life.state, life.boot_failures, life.report(100)["last_exit"]) == (state, failures, reason.value)
        assert Lifecycle.from_json(life.to_json()) == life


def test_healthy_states_come_from_the_enum() -> None:
    assert State.UPSTREAM in HEALTHY_STATES and State.READY in HEALTHY_STATES
    assert State.FAILED not in HEALTHY_STATES and State.UNBOUND not in HEALTHY_STATES


def test_failed_boots_back_off_and_a_good_boot_resets() -> None:
    life = Lifecycle()
    life.started(0)
    life.exited(1_000, ExitReason.FAILED_BOOT)
    assert life.boot_failures == 1 and life.restart_wait_ms(1_000) == 2_000
    assert life.restart_wait_ms(2_500) == 500 and life.restart_wait_ms(3_000) == 0
    life.started(3_000)
    life.exited(4_000, ExitReason.FAILED_BOOT)
    assert life.boot_failures == 2 and life.restart_wait_ms(4_000) == 4_000
    for failures in range(3, 12):
        life.started(0)
        life.exited(0, ExitReason.BOOT_TIMEOUT)
        assert life.restart_wait_ms(0) == min(60_000, 2_000 * 2 ** (failures - 1))
    life.started(100)
    life.became_ready(200)
    assert life.boot_failures == 0
    life.exited(300, ExitReason.CRASHED)  # a crash after being ready restarts at once
    assert life.restart_wait_ms(300) == 0


def test_ceil_seconds() -> None:
    assert [ceil_seconds(ms) for ms in (0, 1, 999, 1000, 1001, 60_000)] == [1, 1, 1, 1, 2, 60]
