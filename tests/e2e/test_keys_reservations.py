"""Budgets and tokens hold under concurrency (issue "Keys that hold" §3): 20 requests at once against a small
max_budget or tpm_limit, proven by what reached the fake provider (how many, and the output cap each carried)
and by what was booked.

Every request here is admitted while all the others are in flight: its body arrives HOLD_S after its headers, and
admission (with its reservation) comes before the body. The gateway before reservations admitted all 20 in each
case: 20 reached the provider where these expect 1 to 4.

The fake never honours an output cap (its answer is "echo: <prompt>", `known_usage`), so the caps asserted are what
a real provider would have stopped at; booked usage is the fake's, always within the caps chosen here but the
partial ones.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from keys.material import token_of
from keys.reservations import MIN_OUTPUT_TOKENS, OUTPUT_GRANT_TOKENS, prompt_estimate
from tests.e2e.assertions import openai_error
from tests.e2e.keys_admin import KeyAdmin, bearer, chat_body, known_usage, together
from tests.harness import FakeProvider, Gateway

CONCURRENT = 20
# Without learned prices a budgeted key serves one request at a time, capped at the grant: what these two show then.
UNPRICED = "1 served, or the grant as its cap? No price learned: does the booking pass gate.finish(prices=)?"
HOLD_S = 1.5  # how long each body trails its headers: every admission is over by then
FILLER = "r" * 200
# LiteLLM 1.108.7's own prices for gpt-4o-mini (its bundled cost map), per token; checked against a booking.
MINI_IN, MINI_OUT = 1.5e-07, 6e-07


@pytest.fixture(scope="module")
def admin(gateway: Gateway) -> KeyAdmin:
    return KeyAdmin(gateway)


def raw_body(label: str, n: int, **extra: Any) -> bytes:
    """A chat body of the same size for every `n` (its marker is `label-NN-` + FILLER)."""
    return json.dumps(chat_body(f"{label}-{n:02d}-{FILLER}", **extra), separators=(",", ":")).encode()


def held_post(admin: KeyAdmin, key: str, raw: bytes) -> httpx.Response:
    """A chat request whose body (with its Content-Length declared) follows its headers HOLD_S later."""
    def body() -> Iterator[bytes]:
        time.sleep(HOLD_S)
        yield raw

    return admin.client.post("/v1/chat/completions", content=body(), timeout=30.0,
                             headers={**bearer(key), "content-type": "application/json",
                                      "content-length": str(len(raw))})


def at_once(admin: KeyAdmin, key: str, label: str, **extra: Any) -> list[httpx.Response]:
    return together(CONCURRENT, lambda n: held_post(admin, key, raw_body(label, n, **extra)))


def caps_seen(provider: FakeProvider, label: str) -> list[int | None]:
    """The output cap of each request with this label that reached the provider, in order."""
    return sorted(entry["max_tokens"] for entry in provider.stats()["requests"]
                  if entry["marker"].startswith(f"{label}-"))


def tokens_each(label: str) -> int:
    return sum(known_usage(f"{label}-00-{FILLER}"))


def cost_each(label: str) -> float:
    prompt, completion = known_usage(f"{label}-00-{FILLER}")
    return prompt * MINI_IN + completion * MINI_OUT


def assert_refused(answers: list[httpx.Response], code: str) -> None:
    for refused in (answer for answer in answers if answer.status_code != 200):
        assert refused.status_code == 429, refused.text
        assert openai_error(refused)["code"] == code, refused.text
        assert refused.headers["retry-after"] == "1"  # what requests in flight reserved frees as they finish


def test_tpm_limit_of_1000_serves_one_request_at_a_time(admin: KeyAdmin, provider: FakeProvider) -> None:
    """The issue's key (tpm_limit 1000 served 130,013 tokens): the first admission reserves its prompt estimate
    and the rest of the minute's tokens as its output cap, so the other 19 wait for it."""
    key = admin.generate(tpm_limit=1000)
    answers = at_once(admin, key, "tpm1k")
    assert Counter(answer.status_code for answer in answers) == {200: 1, 429: CONCURRENT - 1}
    assert_refused(answers, "rate_limit_exceeded")
    prompt = prompt_estimate(len(raw_body("tpm1k", 0)))
    assert caps_seen(provider, "tpm1k") == [1000 - prompt]
    booked = admin.wait_booked(token_of(key), 1)
    assert booked["total_tokens"] == tokens_each("tpm1k") <= 1000
    assert booked["prompt_tokens"] <= prompt  # the estimate covered the prompt: no overshoot


@pytest.mark.parametrize("client_cap", [None, 300], ids=["uncapped", "capped"])
def test_tpm_limit_splits_into_reservations(admin: KeyAdmin, provider: FakeProvider, client_cap: int | None) -> None:
    """Room for 3 full reservations (prompt + OUTPUT_GRANT_TOKENS) and 100 tokens of output more: 4 are served, the
    4th with the cap that fits what was left (a client's own lower cap stays as sent)."""
    label = f"tpmsplit{client_cap or 0}"
    extra = {} if client_cap is None else {"max_tokens": client_cap}
    prompt = prompt_estimate(len(raw_body(label, 0, **extra)))
    limit = 3 * (prompt + OUTPUT_GRANT_TOKENS) + prompt + 100
    key = admin.generate(tpm_limit=limit)
    answers = at_once(admin, key, label, **extra)
    assert Counter(answer.status_code for answer in answers) == {200: 4, 429: CONCURRENT - 4}
    assert_refused(answers, "rate_limit_exceeded")
    full = OUTPUT_GRANT_TOKENS if client_cap is None else client_cap
    assert caps_seen(provider, label) == [100, full, full, full]
    reserved = prompt + OUTPUT_GRANT_TOKENS  # what reserving counts as used, whatever the client's cap
    remaining = sorted(int(answer.headers["x-ratelimit-remaining-tokens"]) for answer in answers)
    assert remaining == [0] * (CONCURRENT - 3) + [prompt + 100, reserved + prompt + 100, 2 * reserved + prompt + 100]
    booked = admin.wait_booked(token_of(key), 4)
    assert (booked["requests"], booked["failed_requests"]) == (4, 0)
    assert booked["total_tokens"] == 4 * tokens_each(label) <= limit


def test_a_budget_of_a_ten_thousandth_of_a_dollar(admin: KeyAdmin, provider: FakeProvider) -> None:
    """The issue's key (max_budget 0.0001, 16 of 20 served): with no price known yet, one request at a time holds
    the whole budget; once its booking taught the key LiteLLM's prices, the next one holds its worst case at them
    and carries the output cap that what is left affords."""
    key = admin.generate(max_budget=0.0001, models=["gpt-4o-mini"])
    first = at_once(admin, key, "budget1")
    assert Counter(answer.status_code for answer in first) == {200: 1, 429: CONCURRENT - 1}
    assert_refused(first, "insufficient_quota")
    assert caps_seen(provider, "budget1") == [OUTPUT_GRANT_TOKENS]  # no price to fit a cap by: the grant
    admin.wait_booked(token_of(key), 1)
    spend = admin.info(key)["spend"]
    assert spend == pytest.approx(cost_each("budget1"))  # LiteLLM's prices are the ones assumed here

    second = at_once(admin, key, "budget2")
    assert Counter(answer.status_code for answer in second) == {200: 1, 429: CONCURRENT - 1}
    assert_refused(second, "insufficient_quota")
    prompt = prompt_estimate(len(raw_body("budget2", 0)))
    fits = int((0.0001 - spend - prompt * MINI_IN) / MINI_OUT)
    assert fits >= MIN_OUTPUT_TOKENS
    assert caps_seen(provider, "budget2") == [fits], UNPRICED
    booked = admin.wait_booked(token_of(key), 2)
    assert booked["failed_requests"] == 0 and admin.info(key)["spend"] <= 0.0001
    assert provider.stats()["total"] == 2


def test_a_budget_splits_into_reservations_at_learned_prices(admin: KeyAdmin, provider: FakeProvider) -> None:
    """A budget with room for 2 uncapped requests' worst case at gpt-4o-mini's prices and 100.5 tokens of output
    more: 3 are served, the 3rd capped at 100."""
    key = admin.generate(models=["gpt-4o-mini"])
    assert admin.chat(key, "teach the price").status_code == 200  # its booking brings LiteLLM's prices
    admin.wait_booked(token_of(key), 1)
    spend = admin.info(key)["spend"]
    prompt = prompt_estimate(len(raw_body("budgetsplit", 0)))
    worst = prompt * MINI_IN + OUTPUT_GRANT_TOKENS * MINI_OUT
    budget = spend + 2 * worst + prompt * MINI_IN + 100.5 * MINI_OUT
    assert admin.call("POST", "/key/update", json={"key": key, "max_budget": budget}).status_code == 200
    answers = at_once(admin, key, "budgetsplit")
    assert Counter(answer.status_code for answer in answers) == {200: 3, 429: CONCURRENT - 3}, UNPRICED
    assert_refused(answers, "insufficient_quota")
    assert caps_seen(provider, "budgetsplit") == [100, OUTPUT_GRANT_TOKENS, OUTPUT_GRANT_TOKENS]
    booked = admin.wait_booked(token_of(key), 4)
    assert booked["failed_requests"] == 0
    spent = admin.info(key)["spend"]
    assert spent == pytest.approx(spend + 3 * cost_each("budgetsplit")) and spent <= budget
