"""container.booking on CPython, against the real key objects (sqlite3 behind the fake Rpc): who is booked what,
once, with the model that served and the status its client got."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from keys_fakes import Clock, FakeRpc, SqliteExec
from test_keys_admin import admit, call, generate

from container.booking import Booking
from jsonlog import EventLog
from keys.material import token_of
from keys.ticket import Ticket
from metering.ledger import MasterLedger
from metering.pricing import Price

PRICES = {"gpt-4o": Price(1e-6, 2e-6), "backup": Price(3e-6, 4e-6)}
CHAT = b'{"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5}}'


def run(booking: Booking, status: int, body: bytes | None = CHAT, content_type: str = "application/json",
        model_group: str | None = None, cost: str | None = None, code: str | None = None, times: int = 1) -> None:
    async def go() -> None:
        observer = booking.observe(content_type, cost, model_group, 100) if body is not None else None
        if observer is not None:
            observer.feed(body)  # type: ignore[arg-type]
            observer.flush()
        for _ in range(times):
            booking.book(status, code)
        for _ in range(20):  # the booking runs after the last byte, in the background
            await asyncio.sleep(0)

    asyncio.run(go())


def booking_for(rpc: FakeRpc, ticket: Ticket, ledger: MasterLedger) -> Booking:
    async def master() -> MasterLedger:
        return ledger

    async def prices() -> dict[str, Price]:
        return PRICES

    return Booking(ticket, "req-9", master, rpc, prices, EventLog("error", "test"))


def report(rpc: FakeRpc) -> dict[str, Any]:
    return call(rpc, "GET", "/spend/report", query="start_date=2026-01-01&end_date=2026-01-01&group_by=model").body


def test_a_virtual_keys_answer_is_booked_once_in_its_object_at_the_served_models_price(rpc: FakeRpc) -> None:
    key = generate(rpc)["key"]
    lease = admit(rpc, key).lease
    booking = booking_for(rpc, Ticket(token_of(key), lease, "gpt-4o"), MasterLedger(SqliteExec()))
    run(booking, 200, model_group="backup", times=3)  # a fallback served it; booked once however often asked
    [row] = report(rpc)["data"]
    assert (row["model"], row["requests"], row["prompt_tokens"], row["completion_tokens"]) == ("backup", 1, 10, 5)
    assert row["spend"] == pytest.approx(10 * 3e-6 + 5 * 4e-6)
    assert json.loads(json.dumps(asyncio.run(rpc.call(token_of(key), "recent", {"limit": 5}))))["rows"][0][
        "request_id"] == "req-9"


def test_litellms_own_cost_wins_over_prices(rpc: FakeRpc) -> None:
    key = generate(rpc)["key"]
    run(booking_for(rpc, Ticket(token_of(key), admit(rpc, key).lease, "gpt-4o"), MasterLedger(SqliteExec())),
        200, cost="0.75")
    assert report(rpc)["data"][0]["spend"] == 0.75


def test_a_failed_answer_books_a_failed_request_with_nothing_served(rpc: FakeRpc) -> None:
    key = generate(rpc, max_parallel_requests=1)["key"]
    lease = admit(rpc, key).lease
    assert admit(rpc, key).refusal is not None  # the lease holds the one slot
    run(booking_for(rpc, Ticket(token_of(key), lease, "gpt-4o"), MasterLedger(SqliteExec())), 502,
        body=None, code="upstream_unreachable")
    [row] = report(rpc)["data"]
    assert (row["requests"], row["failed_requests"], row["total_tokens"], row["spend"]) == (1, 1, 0, 0)
    assert admit(rpc, key).refusal is None  # the booking freed the slot


def test_the_master_keys_answer_is_booked_in_the_instances_ledger_without_a_call(clock: Clock) -> None:
    rpc, ledger = FakeRpc(clock), MasterLedger(SqliteExec())
    run(booking_for(rpc, Ticket(None, None, "gpt-4o"), ledger), 200)
    [row] = ledger.rows("0000-01-01", "9999-12-31")  # booked at the real clock's day
    assert (row["model"], row["requests"], row["prompt_tokens"]) == ("gpt-4o", 1, 10) and rpc.calls == []
    assert ledger.recent(1)[0]["request_id"] == "req-9"


def test_a_stored_response_is_recorded_only_for_a_creation(rpc: FakeRpc) -> None:
    key = generate(rpc)["key"]
    body = b'{"id":"resp_abc","object":"response","usage":{"input_tokens":2,"output_tokens":3}}'
    for stores, response_id in ((False, "resp_abc"), (True, "resp_abc")):
        ticket = Ticket(token_of(key), admit(rpc, key).lease, "gpt-4o", stores=stores)
        before = asyncio.run(rpc.call(token_of(key), "owner", {"id": response_id}))["model"]
        run(booking_for(rpc, ticket, MasterLedger(SqliteExec())), 200, body=body)
        after = asyncio.run(rpc.call(token_of(key), "owner", {"id": response_id}))["model"]
        assert (before, after) == (None, "gpt-4o" if stores else None)
