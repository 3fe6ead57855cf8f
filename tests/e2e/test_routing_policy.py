"""LiteLLM's routing policy seen through the gateway: fallbacks, failures, rate limits, load spreading."""

from __future__ import annotations

import time

from tests.e2e.assertions import openai_error
from tests.harness import FakeProvider, Gateway


def test_failing_model_falls_back(gateway: Gateway, provider: FakeProvider) -> None:
    response = gateway.chat("flaky", "fallback-please")
    assert response.status_code == 200, response.text
    assert "fallback-please" in response.json()["choices"][0]["message"]["content"]
    hits = provider.stats()["hits"]
    assert hits.get("gpt-fail-500", 0) >= 1 and hits.get("gpt-backup") == 1, hits


def test_all_deployments_failing_is_a_bounded_openai_shaped_5xx(gateway: Gateway, provider: FakeProvider) -> None:
    started = time.monotonic()
    response = gateway.chat("broken", "doomed")
    elapsed = time.monotonic() - started
    assert 500 <= response.status_code < 600, response.text
    openai_error(response)
    assert elapsed < 10, f"took {elapsed:.1f}s"
    assert provider.stats()["hits"].get("gpt-fail-500", 0) >= 1
    assert "127.0.0.1" not in response.text or "api_base" not in response.headers


def test_upstream_429_surfaces_with_retry_after(gateway: Gateway, provider: FakeProvider) -> None:
    response = gateway.chat("limited", "slow down")
    assert response.status_code == 429, response.text
    assert response.headers.get("retry-after") == "7"
    openai_error(response)
    assert provider.stats()["hits"] == {"gpt-fail-429": 1}


def test_two_deployment_group_spreads_load(gateway: Gateway, provider: FakeProvider) -> None:
    for index in range(16):
        assert gateway.chat("pair", f"spread-{index}").status_code == 200
    hits = provider.stats()["hits"]
    assert hits.get("gpt-pair-a", 0) >= 2 and hits.get("gpt-pair-b", 0) >= 2, hits
    assert hits["gpt-pair-a"] + hits["gpt-pair-b"] == 16
