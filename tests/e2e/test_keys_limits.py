"""Each per-key limit at its exact boundary (issue 11 §3-4), proven by what reached the fake provider.

rpm and parallel limits are decided before forwarding, so concurrent requests split exactly; tokens and
spend are reserved at admission and booked from real usage after a response (concurrency:
test_keys_reservations.py), and the request booked past tpm_limit or max_budget completes (the fake never
honours the output cap it is sent) and the next one is refused.
"""

from __future__ import annotations

import time
from collections import Counter

import httpx
import pytest

from keys.material import token_of
from tests.e2e.assertions import openai_error
from tests.e2e.keys_admin import KeyAdmin, bearer, chat_body, known_usage, together
from tests.harness import FakeProvider, Gateway

SLOW_UPSTREAM = "gpt-delay300"  # what LiteLLM asks the fake for `slow-stream`: 5 chunks, 300 ms apart


@pytest.fixture(scope="module")
def admin(gateway: Gateway) -> KeyAdmin:
    return KeyAdmin(gateway)


def assert_rate_limited(answer: httpx.Response, kind: str) -> None:
    assert answer.status_code == 429, answer.text
    error = openai_error(answer)
    assert (error["code"], error["type"]) == ("rate_limit_exceeded", kind), error
    assert int(answer.headers["retry-after"]) >= 1


def test_rpm_limit_holds_exactly_under_concurrency(admin: KeyAdmin, provider: FakeProvider) -> None:
    key = admin.generate(rpm_limit=5)
    answers = together(8, lambda n: admin.chat(key, f"rpm-{n}"))
    assert Counter(answer.status_code for answer in answers) == {200: 5, 429: 3}
    assert provider.stats()["total"] == 5
    for answer in answers:  # OpenAI's headers on every answer for the key, refused or not
        assert answer.headers["x-ratelimit-limit-requests"] == "5"
        assert answer.headers["x-ratelimit-reset-requests"]
    served = sorted(int(a.headers["x-ratelimit-remaining-requests"]) for a in answers if a.status_code == 200)
    assert served == [0, 1, 2, 3, 4]
    for refused in (answer for answer in answers if answer.status_code == 429):
        assert_rate_limited(refused, "requests")
        assert refused.headers["x-ratelimit-remaining-requests"] == "0"
        assert 55 <= int(refused.headers["retry-after"]) <= 60  # the oldest request leaves the 60 s window
    admin.wait_booked(token_of(key), 5)  # refused requests never count as requests


def test_max_parallel_requests_with_slow_streams(admin: KeyAdmin, provider: FakeProvider) -> None:
    key = admin.generate(max_parallel_requests=2)

    def stream(n: int) -> httpx.Response:
        body = chat_body(f"parallel-{n}", "slow-stream", stream=True)
        with admin.client.stream("POST", "/v1/chat/completions", json=body, headers=bearer(key)) as answer:
            answer.read()
            return answer

    answers = together(5, stream)
    assert Counter(answer.status_code for answer in answers) == {200: 2, 429: 3}
    assert provider.stats()["hits"] == {SLOW_UPSTREAM: 2}
    for refused in (answer for answer in answers if answer.status_code == 429):
        assert_rate_limited(refused, "requests")
        assert "parallel" in openai_error(refused)["message"]
    admin.wait_booked(token_of(key), 2)  # both leases are handed back with the booking
    after = together(2, stream)
    assert [answer.status_code for answer in after] == [200, 200]


def test_tpm_limit_from_real_usage(admin: KeyAdmin, provider: FakeProvider) -> None:
    content = "t" * 400
    per_request = sum(known_usage(content))
    key = admin.generate(tpm_limit=2 * per_request)
    first = admin.chat(key, content)
    assert first.status_code == 200 and first.json()["usage"]["total_tokens"] == per_request
    # It reserved its prompt estimate and the rest of the minute's tokens as its output cap.
    assert first.headers["x-ratelimit-remaining-tokens"] == "0"
    admin.wait_booked(token_of(key), 1)
    second = admin.chat(key, content)  # one request's worth left: admitted, and it reaches the limit exactly
    assert second.status_code == 200 and second.headers["x-ratelimit-remaining-tokens"] == "0"
    admin.wait_booked(token_of(key), 2)
    third = admin.chat(key, content)
    assert_rate_limited(third, "tokens")
    assert third.headers["x-ratelimit-limit-tokens"] == str(2 * per_request)
    assert third.headers["x-ratelimit-remaining-tokens"] == "0"
    assert provider.stats()["total"] == 2


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_budget_from_real_cost(admin: KeyAdmin, provider: FakeProvider, stream: bool) -> None:
    """LiteLLM prices gpt-4o-mini from its own cost map; the budget is set to 1.5 requests' cost."""
    content = f"budget-{stream}-" + "b" * 400
    key = admin.generate()

    def ask() -> httpx.Response:
        if not stream:
            return admin.chat(key, content)
        body = chat_body(content, stream=True)
        with admin.client.stream("POST", "/v1/chat/completions", json=body, headers=bearer(key)) as answer:
            answer.read()
            return answer

    assert ask().status_code == 200
    admin.wait_booked(token_of(key), 1)
    cost = admin.info(key)["spend"]
    assert cost > 0, "no cost was booked for this request"
    assert admin.call("POST", "/key/update", json={"key": key, "max_budget": 1.5 * cost}).status_code == 200
    # Admitted with the output cap what is left affords; the fake ignores it, so it crosses the budget.
    assert ask().status_code == 200
    admin.wait_booked(token_of(key), 2)
    assert admin.info(key)["spend"] == pytest.approx(2 * cost)
    refused = ask()
    assert refused.status_code == 429, refused.text
    assert openai_error(refused)["code"] == "insufficient_quota" and "retry-after" not in refused.headers
    assert provider.stats()["total"] == 2


def test_budget_duration_resets_the_spend(admin: KeyAdmin, provider: FakeProvider) -> None:
    """period-1 costs more than the budget (~$3.8e-4; alone, it was admitted before any price was known), a short
    request's minimal answer less (~$1.3e-5 at gpt-4o-mini's prices)."""
    key = admin.generate(max_budget=5e-5, budget_duration="3s")
    assert admin.chat(key, "period-1" + "p" * 2000).status_code == 200
    admin.wait_booked(token_of(key), 1)
    refused = admin.chat(key, "period-2")
    assert refused.status_code == 429 and openai_error(refused)["code"] == "insufficient_quota", refused.text
    wait_s = int(refused.headers["retry-after"])
    assert 1 <= wait_s <= 3
    time.sleep(wait_s)
    assert admin.chat(key, "period-3").status_code == 200
    assert [entry["marker"][:8] for entry in provider.stats()["requests"]] == ["period-1", "period-3"]
