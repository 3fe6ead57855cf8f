"""Fronting an existing LiteLLM: LITELLM_UPSTREAM_URL with no container bound."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.e2e.assertions import assert_clean_headers, openai_error
from tests.e2e.conftest import UPSTREAM_KEY
from tests.harness import FakeProvider, Gateway, free_port, start_gateway

pytestmark = pytest.mark.local_only

CLIENT_KEY = "sk-edge-client-key"


@pytest.fixture(scope="module")
def fronting(existing_litellm: str) -> Iterator[Gateway]:
    gateway = start_gateway(key=CLIENT_KEY, litellm_config=None, containers=False,
                            env={"LITELLM_UPSTREAM_URL": existing_litellm, "LITELLM_UPSTREAM_KEY": UPSTREAM_KEY})
    yield gateway
    gateway.stop()


def test_chat_through_the_edge_to_an_existing_litellm(fronting: Gateway, provider: FakeProvider) -> None:
    response = fronting.chat("gpt-4o-mini", "fronted-marker")
    assert response.status_code == 200, response.text
    assert "fronted-marker" in response.json()["choices"][0]["message"]["content"]
    assert provider.stats()["hits"] == {"gpt-4o-mini": 1}
    assert_clean_headers(response)


def test_stream_through_an_existing_litellm(fronting: Gateway) -> None:
    payload = {"model": "slow-stream", "stream": True, "messages": [{"role": "user", "content": "fronted-stream"}]}
    with fronting.client.stream("POST", "/v1/chat/completions", json=payload, headers=fronting.auth()) as response:
        assert response.status_code == 200
        data = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    text = "".join(json.loads(d)["choices"][0]["delta"].get("content") or "" for d in data[:-1]
                   if json.loads(d)["choices"])
    assert "fronted-stream" in text


def test_edge_auth_still_applies(fronting: Gateway, provider: FakeProvider) -> None:
    wrong = fronting.client.post("/v1/chat/completions", headers={"authorization": f"Bearer {UPSTREAM_KEY}"},
                                 json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]})
    assert wrong.status_code == 401  # the upstream's own key is not the edge's key
    assert provider.stats()["hits"] == {}


def test_upstream_url_never_shows(fronting: Gateway, existing_litellm: str) -> None:
    port = existing_litellm.rsplit(":", 1)[1]
    health = fronting.client.get("/health")
    assert health.json()["container"]["state"] == "upstream"
    for response in (health, fronting.chat("broken", "x"), fronting.client.get("/v1/models", headers=fronting.auth())):
        assert existing_litellm not in response.text and f":{port}" not in response.text
        assert not any(existing_litellm in value for value in response.headers.values())
    assert existing_litellm not in fronting.log_text() and f":{port}" not in fronting.log_text()


def test_upstream_down_is_a_502() -> None:
    gateway = start_gateway(key=CLIENT_KEY, litellm_config=None, containers=False,
                            env={"LITELLM_UPSTREAM_URL": f"http://127.0.0.1:{free_port()}"})
    try:
        response = gateway.chat("gpt-4o-mini", "nobody home")
        assert response.status_code == 502
        assert openai_error(response)["code"] == "upstream_unreachable"
    finally:
        gateway.stop()
