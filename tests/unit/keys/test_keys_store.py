"""A key object's decisions against the real sqlite3: each limit at its exact boundary."""

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from keys_fakes import START_MS, SqliteExec

from keys.directory import DirectoryStore
from keys.limits import format_reset_ms
from keys.ops import DIRECTORY_OPS, KEY_OPS, UnknownOp, directory_op, key_op
from keys.record import KeyRecord
from keys.store import LEASE_TTL_MS, MIGRATIONS, KeyStore
from metering.charge import Charge
from metering.pricing import Price
from metering.usage import Usage
from storage.sql import migrate

TOKEN = "a" * 64


def make(db: SqliteExec | None = None, **settings: object) -> KeyStore:
    store = KeyStore(db or SqliteExec())
    base = KeyRecord(TOKEN, "sk-...abcd", created_ms=START_MS, updated_ms=START_MS, budget_anchor_ms=START_MS)
    assert store.create(base.with_settings(dict(settings), START_MS))
    return store


def admitted(store: KeyStore, now: int, model: str | None = "gpt-4o") -> bool:
    decision, lease, _ = store.admit(now, model)
    return decision.refusal is None and lease is not None


def test_migrations_are_versioned_and_idempotent(tmp_path: Path) -> None:
    path = str(tmp_path / "key.sqlite")
    make(SqliteExec(path))
    again = SqliteExec(path)
    assert migrate(again, MIGRATIONS) == len(MIGRATIONS)
    assert again.exec("SELECT version FROM schema_version") == [{"version": len(MIGRATIONS)}]
    assert KeyStore(again).load() is not None  # the record survived reopening


def test_a_failed_migration_rolls_back_whole() -> None:
    db = SqliteExec()
    with pytest.raises(sqlite3.OperationalError):
        migrate(db, [["CREATE TABLE t (x INTEGER)", "NOT SQL"]])
    assert db.exec("SELECT version FROM schema_version") == [{"version": 0}]
    assert db.exec("SELECT name FROM sqlite_master WHERE name = 't'") == []


def test_rpm_admits_exactly_the_limit_in_a_trailing_minute() -> None:
    store = make(rpm_limit=5)
    results = [admitted(store, START_MS + i * 1000) for i in range(8)]
    assert results == [True] * 5 + [False] * 3
    decision, _, _ = store.admit(START_MS + 7_500, "gpt-4o")
    assert decision.refusal is not None and decision.refusal.code == "rate_limit_exceeded"
    assert decision.refusal.retry_after_s == 53  # the first admission (at +0 s) leaves at +60 s
    assert decision.headers["x-ratelimit-remaining-requests"] == "0"
    assert decision.headers["x-ratelimit-reset-requests"] == "52.5s"
    assert not admitted(store, START_MS + 59_999)
    assert admitted(store, START_MS + 60_000)  # exactly when the first one left the window
    assert not admitted(store, START_MS + 60_500)


class RowCounter(SqliteExec):
    """Counts the rows that cross from SQLite into Python (in workerd: one JS row object each)."""

    rows = 0

    def exec(self, query: str, *bindings: object) -> list[dict[str, object]]:
        result = super().exec(query, *bindings)
        self.rows += len(result)
        return result


def test_an_admission_reads_a_few_rows_however_full_the_window() -> None:
    db = RowCounter()
    store = make(db, rpm_limit=100_000, tpm_limit=10_000_000)
    for i in range(500):
        _, lease, _ = store.admit(START_MS + i, "m")
        store.book(lease, Charge("m", Usage(10, 5), 0.0), START_MS + i)
    db.rows = 0
    decision, _, _ = store.admit(START_MS + 1000, "m")
    assert decision.refusal is None and decision.headers["x-ratelimit-remaining-requests"] == str(100_000 - 501)
    assert decision.headers["x-ratelimit-remaining-tokens"] == str(10_000_000 - 500 * 15)
    assert db.rows <= 5  # the record, the totals, the oldest request, the oldest tokens: not 1,000 events


def test_a_lowered_rpm_limit_waits_for_as_many_to_leave_as_it_is_over() -> None:
    store = make(rpm_limit=10)
    for i in range(8):
        assert admitted(store, START_MS + i * 1000)
    store.change({"rpm_limit": 3}, START_MS + 8000)
    decision, _, _ = store.admit(START_MS + 8000, "m")
    assert decision.refusal is not None and decision.refusal.code == "rate_limit_exceeded"
    # 8 in the window, 3 allowed: the 6th oldest (admitted at +5 s) must leave first, at +65 s.
    assert decision.refusal.retry_after_s == 57
    assert not admitted(store, START_MS + 64_999)
    assert admitted(store, START_MS + 65_000)


def test_admitted_answers_carry_the_headers_of_the_limits_set() -> None:
    store = make(rpm_limit=3, tpm_limit=100)
    decision, _, _ = store.admit(START_MS, "m")
    assert decision.headers == {
        "x-ratelimit-limit-requests": "3", "x-ratelimit-remaining-requests": "2",
        "x-ratelimit-reset-requests": "1m0s",
        "x-ratelimit-limit-tokens": "100", "x-ratelimit-remaining-tokens": "100",
        "x-ratelimit-reset-tokens": "0ms",
    }
    assert make().admit(START_MS, "m")[0].headers == {}  # no limits, no headers


def test_tpm_lets_the_crossing_request_finish_and_refuses_the_next() -> None:
    store = make(tpm_limit=100)
    _, lease, _ = store.admit(START_MS, "m")
    store.book(lease, Charge("m", Usage(60, 30), 0.0), START_MS + 1000)
    assert admitted(store, START_MS + 2000)  # 90 < 100
    _, lease, _ = store.admit(START_MS + 3000, "m")
    store.book(lease, Charge("m", Usage(40, 0), 0.0), START_MS + 4000)  # 130: crossed, and it completed
    decision, _, _ = store.admit(START_MS + 5000, "m")
    assert decision.refusal is not None and decision.refusal.type == "tokens"
    assert decision.refusal.retry_after_s == 56  # once the first 90 leave (at +61 s), 40 < 100
    assert decision.headers["x-ratelimit-remaining-tokens"] == "0"
    assert admitted(store, START_MS + 61_000)


def test_parallel_requests_are_leases_released_by_finish() -> None:
    store = make(max_parallel_requests=2)
    first, second = store.admit(START_MS, "m")[1], store.admit(START_MS, "m")[1]
    decision, _, _ = store.admit(START_MS, "m")
    assert decision.refusal is not None and decision.refusal.retry_after_s == 1
    store.book(first, Charge("m", Usage(), 0.0), START_MS + 10)
    assert admitted(store, START_MS + 20)
    assert second is not None


def test_a_lease_never_released_expires() -> None:
    store = make(max_parallel_requests=1)
    assert admitted(store, START_MS)
    assert not admitted(store, START_MS + LEASE_TTL_MS - 1)
    assert admitted(store, START_MS + LEASE_TTL_MS)


def test_budget_refuses_after_the_crossing_request_and_resets_with_its_period() -> None:
    store = make(max_budget=0.01, budget_duration="1h")
    _, lease, _ = store.admit(START_MS, "m")
    store.book(lease, Charge("m", Usage(10, 10), 0.015), START_MS + 1000)
    decision, _, _ = store.admit(START_MS + 2000, "m")
    assert decision.refusal is not None
    assert (decision.refusal.status, decision.refusal.code) == (429, "insufficient_quota")
    assert decision.refusal.retry_after_s == 3598  # the period ends at +1 h
    assert store.current(START_MS + 3_599_999).spend == pytest.approx(0.015)  # type: ignore[union-attr]
    assert admitted(store, START_MS + 3_600_000)
    assert store.current(START_MS + 3_600_000).spend == 0  # type: ignore[union-attr]


def test_a_budget_without_period_never_resets() -> None:
    store = make(max_budget=0.0)
    decision, _, _ = store.admit(START_MS, "m")
    assert decision.refusal is not None and decision.refusal.retry_after_s is None


@pytest.mark.parametrize(("settings", "now", "status", "code"), [
    ({"blocked": True}, START_MS, 401, "key_blocked"),
    ({"duration": "30s"}, START_MS + 30_000, 401, "key_expired"),
    ({"models": ["gpt-4o-mini"]}, START_MS, 403, "model_not_allowed"),
])
def test_refusals(settings: dict, now: int, status: int, code: str) -> None:
    decision, lease, _ = make(**settings).admit(now, "gpt-4o")
    assert decision.refusal is not None and lease is None
    assert (decision.refusal.status, decision.refusal.code) == (status, code)
    if code == "model_not_allowed":
        assert "gpt-4o'" in decision.refusal.message and "mini" not in decision.refusal.message


def test_an_expiring_key_works_until_its_expiry() -> None:
    assert admitted(make(duration="30s"), START_MS + 29_999)


def test_models_allow_listed_ones_and_all_for_litellm_wildcard() -> None:
    store = make(models=["gpt-4o"])
    assert admitted(store, START_MS, "gpt-4o") and admitted(store, START_MS, None)
    assert admitted(make(models=["all-proxy-models"]), START_MS, "anything")


def test_unknown_and_deleted_keys_are_invalid() -> None:
    empty = KeyStore(SqliteExec())
    assert empty.admit(START_MS, "m")[0].refusal.code == "invalid_api_key"  # type: ignore[union-attr]
    store = make()
    assert store.delete(START_MS) is not None
    assert store.admit(START_MS + 1, "m")[0].refusal.code == "invalid_api_key"  # type: ignore[union-attr]
    assert store.load().deleted_ms == START_MS  # type: ignore[union-attr]
    assert not store.create(replace(store.load(), deleted_ms=None))  # type: ignore[arg-type]


def test_ledger_books_per_model_and_utc_day_failures_with_zero_tokens() -> None:
    store = make()
    for now, model, usage, cost in [(START_MS - 1, "a", Usage(1, 2), 0.5), (START_MS, "a", Usage(3, 4), 0.25),
                                    (START_MS + 5, "a", Usage(failed=True), 0.0), (START_MS, "b", Usage(5, 5), 1.0)]:
        store.book(None, Charge(model, usage, cost), now)
    assert store.ledger("2025-12-31", "2026-01-01") == [
        {"day": "2025-12-31", "model": "a", "requests": 1, "failed_requests": 0, "prompt_tokens": 1,
         "completion_tokens": 2, "cost": 0.5},
        {"day": "2026-01-01", "model": "a", "requests": 2, "failed_requests": 1, "prompt_tokens": 3,
         "completion_tokens": 4, "cost": 0.25},
        {"day": "2026-01-01", "model": "b", "requests": 1, "failed_requests": 0, "prompt_tokens": 5,
         "completion_tokens": 5, "cost": 1.0},
    ]
    assert store.ledger("2026-01-02", "2026-12-31") == []
    assert store.current(START_MS).spend == pytest.approx(1.75)  # type: ignore[union-attr]


@pytest.mark.parametrize(("ms", "text"), [(0, "0ms"), (250, "250ms"), (12_000, "12s"), (60_000, "1m0s"),
                                          (62_500, "1m2.5s"), (-5, "0ms")])
def test_reset_spelling(ms: int, text: str) -> None:
    assert format_reset_ms(ms) == text


def test_the_rpc_surface_is_exactly_the_operations_the_objects_answer() -> None:
    """keys.objects makes one RPC method per name in KEY_OPS / DIRECTORY_OPS: each must be an operation keys.ops
    answers (a payload it lacks is a KeyError of a field, never of the op), and an unknown op is refused."""
    for ops, run, store in ((KEY_OPS, key_op, make()), (DIRECTORY_OPS, directory_op, DirectoryStore(SqliteExec()))):
        for op in ops:
            try:
                run(store, op, {}, START_MS)
            except UnknownOp:
                raise AssertionError(f"{op} is no operation of keys.ops") from None
            except KeyError:
                pass  # a payload field it needs
        with pytest.raises(UnknownOp):
            run(store, "fetch", {}, START_MS)


class Statements(SqliteExec):
    """Records each statement's text: in workerd every one is a crossing into the runtime's SQLite and back."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []
        self.fail_on: str | None = None

    def exec(self, query: str, *bindings: object) -> list[dict[str, object]]:
        self.seen.append(query)
        if self.fail_on is not None and query.startswith(self.fail_on):
            self.fail_on = None
            raise sqlite3.OperationalError("disk I/O error")
        return super().exec(query, *bindings)


def _served(cost: float = 0.001) -> Charge:
    return Charge("gpt-4o", Usage(10, 5, False), cost)


def test_a_booking_reads_the_learned_prices_back_only_when_they_may_have_changed() -> None:
    db = Statements()
    store = make(db)
    prices = {"gpt-4o": Price(1e-6, 2e-6), "other": Price(3e-6, 4e-6)}
    store.book(None, _served(), START_MS, prices)
    assert store.prices() == prices
    db.seen.clear()
    store.book(None, _served(), START_MS + 1, dict(prices))  # the same table, as almost every booking carries
    assert not [q for q in db.seen if "prices" in q]
    changed = {**prices, "gpt-4o": Price(5e-6, 6e-6)}
    store.book(None, _served(), START_MS + 2, changed)
    assert store.prices() == changed


def test_prices_a_rolled_back_booking_wrote_are_learned_again() -> None:
    db = Statements()
    store = make(db)
    prices = {"gpt-4o": Price(1e-6, 2e-6)}
    db.fail_on = "INSERT INTO prices"
    with pytest.raises(sqlite3.OperationalError):
        store.book(None, _served(), START_MS, prices)
    assert store.prices() == {}
    store.book(None, _served(), START_MS + 1, prices)
    assert store.prices() == prices


def test_prices_are_learned_again_after_the_state_moved_out_and_back() -> None:
    store = make()
    prices = {"gpt-4o": Price(1e-6, 2e-6)}
    store.book(None, _served(), START_MS, prices)
    state = store.take_state(START_MS + 1)
    assert state is not None and store.prices() == {}
    state["prices"] = []  # an object one version behind handed over none
    assert store.import_state(state)
    store.book(None, _served(), START_MS + 2, prices)
    assert store.prices() == prices


def test_a_key_without_rate_limits_leaves_the_window_alone_and_counts_it_right_once_it_has_one() -> None:
    db = Statements()
    store = make(db, rpm_limit=1)
    assert admitted(store, START_MS)
    assert store.change({"rpm_limit": None}, START_MS + 1) is not None
    db.seen.clear()
    assert admitted(store, START_MS + 2)
    assert not [q for q in db.seen if q.startswith("DELETE FROM window_events")]
    assert store.change({"rpm_limit": 1}, START_MS + 120_000) is not None
    assert admitted(store, START_MS + 120_001)  # the event from two minutes ago no longer counts
    assert not admitted(store, START_MS + 120_002)


def test_admissions_and_bookings_read_the_record_from_sqlite_only_once() -> None:
    db = Statements()
    store = make(db, max_budget=10.0)
    db.seen.clear()
    for index in range(3):
        decision, lease, _ = store.admit(START_MS + index, "gpt-4o")
        assert decision.refusal is None
        store.book(lease, _served(0.5), START_MS + index)
    assert not [q for q in db.seen if q.startswith("SELECT data FROM record")]
    assert store.current(START_MS + 10).spend == pytest.approx(1.5)
    assert KeyStore(db).load().spend == pytest.approx(1.5)  # what is remembered is what was committed


def test_a_rolled_back_booking_leaves_no_spend_in_memory_either() -> None:
    db = Statements()
    store = make(db, max_budget=10.0)
    db.fail_on = "INSERT INTO prices"  # after the spend is saved, in the same transaction
    with pytest.raises(sqlite3.OperationalError):
        store.book(None, _served(0.5), START_MS, {"gpt-4o": Price(1e-6, 2e-6)})
    assert store.current(START_MS + 1).spend == 0.0
    store.book(None, _served(0.5), START_MS + 2)
    assert store.current(START_MS + 3).spend == pytest.approx(0.5)


def test_a_key_taken_away_and_brought_back_is_read_as_it_now_is() -> None:
    store = make(rpm_limit=7)
    state = store.take_state(START_MS)
    assert state is not None and store.current(START_MS + 1) is None and store.admit(START_MS + 1, "m")[1] is None
    assert store.import_state({**state, "record": {**state["record"], "rpm_limit": 3}})
    assert store.current(START_MS + 2).rpm_limit == 3


@pytest.mark.parametrize("limits", [{}, {"rpm_limit": 1000, "tpm_limit": 10**6}])
def test_an_admission_is_one_read_and_its_own_writes_and_what_expired_goes_by_trigger(limits: dict) -> None:
    db = Statements()
    store = make(db, max_parallel_requests=1, **limits)
    assert admitted(store, START_MS)  # never booked: its client left before the answer's headers
    for index in range(1, 30):  # the window's rows pile up only within its minute
        store.book(None, _served(), START_MS + index * 5_000)
    db.seen.clear()
    later = START_MS + LEASE_TTL_MS + 1
    assert admitted(store, later)  # the expired lease no longer holds the one parallel slot
    writes = ["INSERT INTO leases"] + (["INSERT INTO window_events"] if limits else [])
    assert [q.split(" (")[0] for q in db.seen if not q.startswith("SELECT")] == writes
    assert len([q for q in db.seen if q.startswith("SELECT")]) == 1
    assert db.exec("SELECT COUNT(*) AS n FROM leases") == [{"n": 1}]  # the expired one deleted as this one came
    events = db.exec("SELECT COUNT(*) AS n, MIN(ts_ms) AS oldest FROM window_events")[0]
    assert (events["n"], events["oldest"]) == ((1, later) if limits else (0, None))
