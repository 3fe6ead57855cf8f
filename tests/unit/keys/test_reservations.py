"""Reservations ("Keys that hold" §3): the pure decisions (keys.reservations), the key object's leases over the real
sqlite3 (keys.store), and the output cap the edge writes (request_policy.output_caps)."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keys_fakes import START_MS, FakeRpc, SqliteExec
from test_keys_admin import generate

from edge.request_policy import Caps, OutputCap, Verdict, cost_kind, judge, rewritten
from keys import client
from keys.material import token_of
from keys.record import KeyRecord
from keys.reservations import (
    BUDGET,
    INPUT,
    MIN_OUTPUT_TOKENS,
    NONE,
    OTHER,
    OUTPUT,
    OUTPUT_GRANT_TOKENS,
    TOKENS,
    Grant,
    Held,
    Need,
    Reservation,
    Shortfall,
    output_allowance,
    price_of,
    prompt_estimate,
    reserve,
)
from keys.store import LEASE_TTL_MS, MIGRATIONS, KeyStore
from metering.charge import Charge
from metering.pricing import Price
from metering.usage import Usage
from storage.sql import migrate

QUICK = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
MINI, OPUS = Price(1.5e-07, 6e-07), Price(1.5e-05, 7.5e-05)
TOKEN = "b" * 64

rates = st.builds(Price, st.floats(0, 1e-4), st.floats(0, 1e-4))
price_tables = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), rates, max_size=4)
needs = st.builds(Need, st.sampled_from([OUTPUT, INPUT, OTHER, NONE]), st.none() | st.integers(0, 400_000))


def make(**settings: Any) -> KeyStore:
    store = KeyStore(SqliteExec())
    base = KeyRecord(TOKEN, "sk-...abcd", created_ms=START_MS, updated_ms=START_MS, budget_anchor_ms=START_MS)
    assert store.create(base.with_settings(settings, START_MS))
    return store


def held(store: KeyStore) -> Held:
    row = store._db.exec("SELECT COALESCE(SUM(tokens), 0) AS t, COALESCE(SUM(usd), 0) AS u FROM leases")[0]
    return Held(int(row["t"]), float(row["u"]))


# -- the pure decisions ------------------------------------------------------------------------------------

@QUICK
@given(st.none() | st.integers(1, 200_000), st.integers(0, 250_000), st.none() | st.floats(0, 10), st.floats(0, 12),
       st.builds(Held, st.integers(0, 200_000), st.floats(0, 10)), needs, price_tables)
def test_a_reservation_never_exceeds_what_is_left(tpm: int | None, used: int, budget: float | None, spend: float,
                                                 holding: Held, need: Need, prices: dict[str, Price]) -> None:
    verdict = reserve(tpm, used, budget, spend, holding, need, prices)
    if isinstance(verdict, Shortfall):
        return
    assert verdict.tokens >= 0 and verdict.usd >= 0
    if tpm is not None:
        assert used < tpm  # nothing is admitted over the window's limit, even a request that costs nothing
        assert verdict.tokens == 0 or verdict.tokens <= tpm - used - holding.tokens
    if budget is not None:
        assert spend < budget
        assert verdict.usd == 0 or verdict.usd <= budget - spend - holding.usd
    if need.kind == OUTPUT and verdict.grant.output_tokens is not None:
        assert MIN_OUTPUT_TOKENS <= verdict.grant.output_tokens <= OUTPUT_GRANT_TOKENS


@QUICK
@given(st.none() | st.integers(1, 200_000), st.none() | st.floats(1e-6, 10),
       st.builds(Need, st.sampled_from([OUTPUT, INPUT]), st.none() | st.integers(0, 400_000)), price_tables,
       st.sampled_from(["a", "b", "c", "d", "unknown"]), st.integers(0, 400_000))
def test_the_cap_written_keeps_the_request_within_its_reservation(tpm: int | None, budget: float | None, need: Need,
                                                                  prices: dict[str, Price], model: str,
                                                                  read: int) -> None:
    """Whatever model the body names (priced as price_of says), its prompt (as estimated) and the cap written cost at
    most what was reserved, in tokens and in dollars; an undeclared body's size is known only once read."""
    verdict = reserve(tpm, 0, budget, 0.0, Held(), need, prices)
    if isinstance(verdict, Shortfall) or verdict.grant.output_tokens is None:
        return
    size = read if need.prompt_bytes is None else need.prompt_bytes
    price = price_of(prices, [model])
    allowed, _ = output_allowance(verdict.grant, size, price)
    if allowed < (MIN_OUTPUT_TOKENS if need.kind == OUTPUT else 0):
        return  # refused at the edge (booked as one failed request)
    if tpm is not None:
        assert prompt_estimate(size) + allowed <= verdict.tokens
    if budget is not None and price is not None:
        served = prices.get(model, price)
        spent = prompt_estimate(size) * served.input_per_token + allowed * served.output_per_token
        assert spent <= verdict.usd * (1 + 1e-9) + 1e-15


def test_without_a_known_price_a_budget_is_held_whole_by_one_request() -> None:
    first = reserve(None, 0, 0.0001, 0.0, Held(), Need(OUTPUT, 300), {})
    assert isinstance(first, Reservation) and first.usd == 0.0001
    assert first.grant == Grant(75, OUTPUT_GRANT_TOKENS, False, 0.0001)
    assert reserve(None, 0, 0.0001, 0.0, Held(usd=first.usd), Need(OUTPUT, 300), {}) == Shortfall(BUDGET, True)
    assert isinstance(reserve(None, 0, 0.0001, 0.0, Held(usd=first.usd), Need(NONE), {}), Reservation)


def test_a_model_list_is_priced_at_its_priciest_and_each_request_capped_at_its_own() -> None:
    prices = {"mini": MINI, "opus": OPUS}
    verdict = reserve(None, 0, 5.0, 0.0, Held(), Need(OUTPUT, 4000), prices)
    assert isinstance(verdict, Reservation)
    assert verdict.usd == pytest.approx(1000 * OPUS.input_per_token + OUTPUT_GRANT_TOKENS * OPUS.output_per_token)
    assert output_allowance(verdict.grant, 4000, price_of(prices, ["mini"])) == (OUTPUT_GRANT_TOKENS, TOKENS)
    small = reserve(None, 0, 0.001, 0.0, Held(), Need(OUTPUT, 4000), prices)  # less than opus's minimal answer
    assert isinstance(small, Reservation) and small.usd == 0.001  # mini fits: all that is left
    assert output_allowance(small.grant, 4000, price_of(prices, ["mini"]))[0] == math.floor((0.001 - 1.5e-4) / 6e-7)
    assert output_allowance(small.grant, 4000, price_of(prices, ["opus"]))[1] == BUDGET  # too little: refused
    assert price_of(prices, ["mini", "somewhere-else"]) == OPUS  # a model it does not know: the priciest


def test_a_request_larger_than_the_limit_never_fits() -> None:
    assert reserve(1000, 0, None, 0.0, Held(), Need(OUTPUT, 4000), {}) == Shortfall(TOKENS, False, 1016)


# -- leases in the key's object ------------------------------------------------------------------------------

def test_the_issue_s_tpm_key_serves_one_request_at_a_time() -> None:
    store = make(tpm_limit=1000)
    decisions = [store.admit(START_MS, None, Need(OUTPUT, 300))[0] for _ in range(20)]
    assert [d.refusal is None for d in decisions] == [True] + [False] * 19
    assert decisions[0].reservation.grant.output_tokens == 1000 - 75
    assert decisions[0].headers["x-ratelimit-remaining-tokens"] == "0"
    refusal = decisions[1].refusal
    assert refusal is not None and (refusal.type, refusal.retry_after_s) == ("tokens", 1)
    too_large = store.admit(START_MS, None, Need(OUTPUT, 4000))[0].refusal
    assert too_large is not None and too_large.retry_after_s is None and "Request too large" in too_large.message


@QUICK
@given(st.lists(st.tuples(st.sampled_from(["admit", "finish", "expire"]), needs, st.integers(0, 5_000),
                          st.floats(0, 0.01)), max_size=30))
def test_settling_and_releasing_give_back_exactly_what_was_taken(steps: list[tuple[str, Need, int, float]]) -> None:
    store = make(tpm_limit=50_000, max_budget=1.0)
    now, open_leases, taken = START_MS, {}, Held()
    for op, need, tokens, cost in steps:
        now += 1000
        if op == "admit":
            decision, lease, _ = store.admit(now, None, need)
            if lease is not None:
                open_leases[lease] = decision.reservation
                taken = Held(taken.tokens + decision.reservation.tokens, taken.usd + decision.reservation.usd)
        elif op == "finish" and open_leases:
            lease, reservation = open_leases.popitem()
            store.book(lease, Charge("m", Usage(tokens, 0), cost), now)
            taken = Held(taken.tokens - reservation.tokens, taken.usd - reservation.usd)
        elif op == "expire":  # every lease outlives its TTL: what they held goes with them
            now += LEASE_TTL_MS
            store.admit(now, None, Need())
            open_leases, taken = {}, Held()
        assert held(store).tokens == taken.tokens and held(store).usd == pytest.approx(taken.usd, abs=1e-12)
    for lease in list(open_leases):
        store.book(lease, Charge("m", Usage(), 0.0), now)
    assert held(store) == Held(0, 0.0)


@QUICK
@given(st.lists(st.tuples(st.integers(0, 20_000), st.none() | st.integers(1, 3000), st.sampled_from(["mini", "opus"])),
                min_size=1, max_size=25), st.integers(500, 60_000), st.floats(0.0005, 0.5))
def test_requests_admitted_together_stay_within_the_limits(requests: list[tuple[int, int | None, str]], tpm: int,
                                                           budget: float) -> None:
    """All admitted before any is booked; each uses its prompt estimate and at most its cap (a provider honours it)."""
    prices = {"mini": MINI, "opus": OPUS}
    store = make(tpm_limit=tpm, max_budget=budget)
    store.book(None, Charge("mini", Usage(), 0.0), START_MS, prices)  # learned from an earlier booking
    served = []
    for size, client_cap, model in requests:
        decision, lease, _ = store.admit(START_MS, None, Need(OUTPUT, size))
        if lease is None:
            continue
        grant = decision.reservation.grant
        allowed, _ = output_allowance(grant, size, price_of(decision.prices, [model]))
        if allowed < MIN_OUTPUT_TOKENS:
            store.book(lease, Charge(model, Usage(failed=True), 0.0), START_MS)
            continue
        served.append((lease, model, prompt_estimate(size), min(allowed, client_cap or allowed)))
    for lease, model, prompt, output in served:
        price = prices[model]
        store.book(lease, Charge(model, Usage(prompt, output), prompt * price.input_per_token
                     + output * price.output_per_token), START_MS + 10)
    record = store.current(START_MS + 10)
    assert record is not None and record.spend <= budget * (1 + 1e-9)
    used = store._db.exec("SELECT COALESCE(SUM(tokens), 0) AS t FROM window_events")[0]["t"]
    assert used <= tpm


def test_prices_are_learned_for_the_key_s_models_and_written_only_when_they_change() -> None:
    store = make(models=["mini"], max_budget=1.0)
    store.book(None, Charge("mini", Usage(), 0.0), START_MS, {"mini": MINI, "opus": OPUS})
    assert store.prices() == {"mini": MINI}
    changes = store._db.conn.total_changes
    store.book(None, Charge("mini", Usage(), 0.0), START_MS, {"mini": MINI, "opus": OPUS})
    assert store._db.conn.total_changes - changes == 2  # the ledger row and the recent one, no price
    decision, _, _ = store.admit(START_MS, None, Need(OUTPUT, 400))
    assert decision.prices == {"mini": MINI}
    assert decision.reservation.usd == pytest.approx(100 * 1.5e-07 + OUTPUT_GRANT_TOKENS * 6e-07)


def test_leases_written_before_reservations_hold_nothing_after_the_upgrade() -> None:
    db = SqliteExec()
    migrate(db, MIGRATIONS[:1])
    db.exec("INSERT INTO record (id, data) VALUES (1, ?)", json.dumps({"token": TOKEN, "key_name": "sk-...abcd",
                                                                      "created_ms": START_MS, "updated_ms": START_MS,
                                                                      "tpm_limit": 1000}))
    db.exec("INSERT INTO leases (id, started_ms) VALUES ('old', ?)", START_MS)
    store = KeyStore(db)
    assert held(store) == Held(0, 0.0)
    decision, lease, _ = store.admit(START_MS, None, Need(OUTPUT, 400))
    assert lease is not None and decision.reservation.tokens == 1000
    store.book("old", Charge("m", Usage(10, 10), 0.0), START_MS)
    assert held(store) == Held(1000, 0.0)


def test_prices_move_with_a_regenerated_key() -> None:
    old, new = make(max_budget=1.0), KeyStore(SqliteExec())
    old.book(None, Charge("mini", Usage(), 0.0), START_MS, {"mini": MINI})
    state = old.take_state(START_MS)
    assert state is not None and new.import_state(json.loads(json.dumps(state)))
    assert new.prices() == {"mini": MINI}


def test_the_wire_carries_the_need_the_grant_and_the_prices(rpc: FakeRpc) -> None:
    key = generate(rpc, max_budget=1.0, models=["mini"])["key"]
    asyncio.run(client.book(rpc, token_of(key), None, Charge("mini", Usage(1, 1), 1e-6), {"mini": MINI}))
    admission = asyncio.run(client.admit(rpc, token_of(key), None, Need(OUTPUT, 400)))
    assert admission.refusal is None and admission.prices == {"mini": MINI}
    assert admission.grant == Grant(100, OUTPUT_GRANT_TOKENS, False, pytest.approx(100 * 1.5e-07 + 4096 * 6e-07))
    legacy = asyncio.run(client.admit(rpc, token_of(key), None))  # an edge that sends no need: nothing reserved
    assert legacy.refusal is None and legacy.grant is None


# -- the cap the edge writes ---------------------------------------------------------------------------------

def capped(body: dict[str, Any], grant: Grant, operation: str = "/chat/completions",
           prices: dict[str, Price] | None = None) -> Any:
    raw = json.dumps(body).encode()
    verdict = judge(raw, Caps(2, 600, output=OutputCap(grant, prices or {}, operation)))
    if not isinstance(verdict, Verdict):
        return verdict
    return json.loads(rewritten(raw, verdict) or raw)


@pytest.mark.parametrize(("body", "operation", "written"), [
    ({}, "/chat/completions", {"max_tokens": 300}),
    ({"max_tokens": 100}, "/chat/completions", {"max_tokens": 100}),  # the client's own lower cap stays
    ({"max_tokens": 5000}, "/chat/completions", {"max_tokens": 300}),
    ({"max_completion_tokens": 900, "n": 3}, "/chat/completions", {"max_completion_tokens": 100, "n": 3}),
    ({"max_tokens": None}, "/chat/completions", {"max_tokens": 300}),
    ({"n": 2, "best_of": 3}, "/completions", {"max_tokens": 100, "n": 2, "best_of": 3}),
    ({}, "/responses", {"max_output_tokens": 300}),
    ({"max_tokens": 1024}, "/messages", {"max_tokens": 300}),
    ({}, "/embeddings", {}),
])
def test_the_output_cap_fits_the_grant(body: dict[str, Any], operation: str, written: dict[str, Any]) -> None:
    answer = capped({"model": "m", **body}, Grant(1000, 300, True), operation)  # its prompt declared: no excess
    assert answer == {"model": "m", **written}


def test_caps_the_edge_cannot_read_or_afford_are_refused() -> None:
    for body, param in (({"max_tokens": "many"}, "max_tokens"), ({"max_tokens": 1.5}, "max_tokens"),
                        ({"n": 0}, "n"), ({"best_of": True}, "best_of")):
        refused = capped(body, Grant(0, 300, True), "/completions")
        assert (refused.status, refused.code, refused.param) == (400, "param_invalid", param)
    tokens = capped({"n": 20}, Grant(0, 300, True))  # 15 tokens a choice: less than a minimal answer
    assert (tokens.status, tokens.code, tokens.type, tokens.retry_after_s) == (429, "rate_limit_exceeded", "tokens", 1)
    budget = capped({"model": "opus"}, Grant(0, OUTPUT_GRANT_TOKENS, False, 0.0001), prices={"opus": OPUS})
    assert (budget.status, budget.code) == (429, "insufficient_quota")
    undeclared = capped({"input": "x" * 2000}, Grant(0, 100, True), "/embeddings")  # ~500 tokens read: over
    assert (undeclared.status, undeclared.type) == (429, "tokens")


@pytest.mark.parametrize(("method", "target", "kind"), [
    ("POST", "/v1/chat/completions", OUTPUT), ("POST", "/openai/deployments/gpt-4o/chat/completions", OUTPUT),
    ("POST", "/v1/messages", OUTPUT), ("POST", "/v1/embeddings", INPUT), ("POST", "/v1/messages/count_tokens", INPUT),
    ("POST", "/v1/images/generations", OTHER), ("POST", "/v1/audio/transcriptions", OTHER),
    ("GET", "/v1/models", NONE), ("DELETE", "/v1/responses/r1", NONE),
])
def test_what_a_request_s_cost_depends_on(method: str, target: str, kind: str) -> None:
    assert cost_kind(method, target) == kind
