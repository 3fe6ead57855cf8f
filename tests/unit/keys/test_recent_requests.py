"""The recent-requests ring and GET /spend/logs: what is noted where it is decided, how much is kept, who may read."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st
from keys_fakes import START_MS, Clock, FakeRpc, SqliteExec
from test_keys_admin import MASTER, call, generate
from test_keys_store import Statements, admitted, make

from keys import client
from keys.admin import Caller
from keys.material import token_of
from metering.charge import Charge, Outcome
from metering.ledger import MasterLedger
from metering.recent import MAX_RECENT, log_rows
from metering.usage import Usage


def booked(rpc: FakeRpc, key: str, request_id: str, status: int = 200, code: str | None = None) -> None:
    lease = asyncio.run(client.admit(rpc, token_of(key), "gpt-4o", request_id=request_id)).lease
    failed = status >= 400
    usage = Usage(0, 0, True) if failed else Usage(3, 4)
    asyncio.run(client.book(rpc, token_of(key), lease, Charge("gpt-4o", usage, 0.0 if failed else 0.25,
                                                            outcome=Outcome(status, code, request_id, 40))))


def logs(rpc: FakeRpc, query: str = "", caller: Caller = MASTER) -> list[dict]:
    answer = call(rpc, "GET", "/spend/logs", query=query, caller=caller)
    assert answer.status == 200, answer.body
    return answer.body["data"]


def test_a_served_request_and_a_refusal_are_both_noted_where_they_are_decided(rpc: FakeRpc) -> None:
    key = generate(rpc, key_alias="alice", rpm_limit=1)["key"]
    booked(rpc, key, "req-served")
    refused = asyncio.run(client.admit(rpc, token_of(key), "gpt-4o", request_id="req-refused"))
    assert refused.refusal is not None and refused.refusal.code == "rate_limit_exceeded"
    newest, oldest = logs(rpc, f"api_key={key}")
    assert (newest["request_id"], newest["status"], newest["http_status"], newest["error_code"]) == (
        "req-refused", "failure", 429, "rate_limit_exceeded")
    assert (oldest["request_id"], oldest["status"], oldest["spend"], oldest["total_tokens"], oldest["latency_ms"]) == (
        "req-served", "success", 0.25, 7, 40)
    assert oldest["api_key"] == token_of(key) and oldest["key_alias"] == "alice" and key not in str(newest)


def test_a_refusal_after_admission_is_noted_with_the_edges_code(rpc: FakeRpc) -> None:
    key = generate(rpc)["key"]
    booked(rpc, key, "req-413", 413, "request_too_large")
    [row] = logs(rpc, f"api_key={token_of(key)}")
    assert (row["http_status"], row["error_code"], row["total_tokens"]) == (413, "request_too_large", 0)
    report = call(rpc, "GET", "/spend/report", query="start_date=2026-01-01&end_date=2026-01-01").body
    assert report["total"]["failed_requests"] == 1  # the same booking as the ledger's


def test_only_the_newest_are_kept_per_key() -> None:
    store = make()
    for index in range(MAX_RECENT + 7):
        store.book(None, Charge("m", Usage(1, 1), 0.0, outcome=Outcome(request_id=f"r{index}")), START_MS + index)
    rows = store.recent(MAX_RECENT + 50)
    assert len(rows) == MAX_RECENT and rows[0]["request_id"] == f"r{MAX_RECENT + 6}" and rows[-1]["request_id"] == "r7"


@pytest.mark.parametrize("where", ["key", "master", "refusals"])
def test_the_ring_is_bounded_in_its_table_by_sqlite_not_by_a_statement_per_request(where: str) -> None:
    """Bounded in storage, not only in what `recent` reads (its LIMIT would hide a table that grows); every
    request, booked or refused, costs the ring one INSERT and nothing else."""
    db = Statements()
    ledger = MasterLedger(db) if where == "master" else None
    store = None if ledger else make(db, rpm_limit=1 if where == "refusals" else None)
    if where == "refusals":
        assert admitted(store, START_MS)  # the one request a minute: every later one is refused and noted

    def write(index: int) -> None:
        charge = Charge("m", Usage(1, 1), 0.0, outcome=Outcome(request_id=f"r{index}"))
        if ledger is not None:
            ledger.book(charge, START_MS + index)
        elif where == "key":
            store.book(None, charge, START_MS + index)
        else:
            assert store.admit(START_MS + 1 + index, "m", request_id=f"r{index}")[1] is None

    for index in range(MAX_RECENT + 25):
        db.seen.clear()
        write(index)
        ring = [query for query in db.seen if " recent" in query]
        assert len(ring) == 1 and ring[0].startswith("INSERT INTO recent"), ring
    assert db.exec("SELECT COUNT(*) AS n FROM recent") == [{"n": MAX_RECENT}]
    kept = [row["request_id"] for row in db.exec("SELECT request_id FROM recent ORDER BY seq")]
    assert kept == [f"r{index}" for index in range(25, MAX_RECENT + 25)]


def test_the_master_keys_requests_are_kept_by_each_instance(rpc: FakeRpc) -> None:
    for name, request_id in (("litellm-0", "m-0"), ("litellm-1", "m-1")):
        ledger = asyncio.run(rpc.instance_ledger(name))
        ledger.book(Charge("gpt-4o", Usage(1, 1), 0.1, outcome=Outcome(request_id=request_id)), rpc.clock.ms)
        rpc.clock.ms += 1
    assert [row["request_id"] for row in logs(rpc, "api_key=master")] == ["m-1", "m-0"]
    generate(rpc)
    assert [row["key_alias"] for row in logs(rpc)] == ["master", "master"]  # keys without requests add none


def test_a_regenerated_key_keeps_its_recent_requests(rpc: FakeRpc) -> None:
    old = generate(rpc)
    booked(rpc, old["key"], "before")
    new = call(rpc, "POST", "/key/regenerate", {"key": old["key"]}).body
    assert [row["request_id"] for row in logs(rpc, f"api_key={new['token']}")] == ["before"]


@pytest.mark.parametrize(("query", "status", "param"), [
    ("api_key=sk-unknown-key-123456", 404, "api_key"), ("api_key=nonsense", 400, "api_key"),
    ("limit=0", 400, "limit"), ("limit=1001", 400, "limit"), ("limit=x", 400, "limit")])
def test_bad_questions_get_the_key_apis_errors(rpc: FakeRpc, query: str, status: int, param: str) -> None:
    answer = call(rpc, "GET", "/spend/logs", query=query)
    assert (answer.status, answer.body["error"]["param"]) == (status, param)


def test_only_the_master_key_reads_them(rpc: FakeRpc) -> None:
    key = generate(rpc)["key"]
    answer = call(rpc, "GET", "/spend/logs", query=f"api_key={key}",
                  caller=Caller(is_master=False, token=token_of(key)))
    assert (answer.status, answer.body["error"]["code"]) == (403, "admin_only")


def test_an_object_that_never_held_a_key_has_no_requests(clock: Clock) -> None:
    rpc = FakeRpc(clock)
    assert asyncio.run(rpc.call("f" * 64, "recent", {"limit": 5}))["rows"] == []
    assert MasterLedger(SqliteExec()).recent(5) == []


rows = st.lists(st.fixed_dictionaries({"ts_ms": st.integers(0, 10**6), "request_id": st.text(max_size=5),
                                       "model": st.none() | st.just("m"), "status": st.integers(100, 599),
                                       "code": st.none() | st.just("x"), "prompt_tokens": st.integers(0, 9),
                                       "completion_tokens": st.integers(0, 9), "cost": st.floats(0, 1),
                                       "latency_ms": st.none() | st.integers(0, 10**4)}), max_size=8)


@given(st.lists(rows, max_size=4), st.integers(1, 20))
def test_merged_logs_are_newest_first_and_bounded(per_key_rows: list[list[dict]], limit: int) -> None:
    per_key = [({"token": f"t{index}", "key_alias": None}, key_rows) for index, key_rows in enumerate(per_key_rows)]
    merged = log_rows(per_key, limit)
    assert len(merged) == min(limit, sum(map(len, per_key_rows)))
    ends = [row["endTime"] for row in merged]
    assert ends == sorted(ends, reverse=True)
    assert all(row["startTime"] <= row["endTime"] for row in merged)
