"""Every API endpoint through Worker -> Durable Object -> LiteLLM -> provider, in both API dialects."""

from __future__ import annotations

import uuid

from tests.e2e.assertions import assert_clean_headers
from tests.harness import FakeProvider, Gateway


def marker() -> str:
    return f"marker-{uuid.uuid4().hex[:12]}"


def test_models_lists_the_configured_models(gateway: Gateway) -> None:
    response = gateway.client.get("/v1/models", headers=gateway.auth())
    assert response.status_code == 200
    ids = {model["id"] for model in response.json()["data"]}
    assert {"gpt-4o-mini", "claude-3-5-sonnet", "text-embedding-3-small", "gpt-3.5-turbo-instruct"} <= ids


def test_chat_on_an_openai_model(gateway: Gateway, provider: FakeProvider) -> None:
    mark = marker()
    response = gateway.chat("gpt-4o-mini", mark)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion"
    assert mark in body["choices"][0]["message"]["content"]
    assert body["usage"]["total_tokens"] > 0
    assert provider.stats()["hits"] == {"gpt-4o-mini": 1}
    assert_clean_headers(response)


def test_chat_on_a_claude_model_goes_through_anthropic_translation(gateway: Gateway, provider: FakeProvider) -> None:
    mark = marker()
    response = gateway.chat("claude-3-5-sonnet", mark, max_tokens=50)
    assert response.status_code == 200, response.text
    assert mark in response.json()["choices"][0]["message"]["content"]
    last = provider.stats()["requests"][-1]
    assert last["path"].endswith("/v1/messages") and last["auth_scheme"] == "x-api-key"


def test_legacy_completions(gateway: Gateway, provider: FakeProvider) -> None:
    mark = marker()
    response = gateway.client.post("/v1/completions", headers=gateway.auth(),
                                   json={"model": "gpt-3.5-turbo-instruct", "prompt": mark, "max_tokens": 20})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "text_completion" and mark in body["choices"][0]["text"]
    assert provider.stats()["requests"][-1]["path"].endswith("/v1/completions")


def test_embeddings(gateway: Gateway, provider: FakeProvider) -> None:
    response = gateway.client.post("/v1/embeddings", headers=gateway.auth(),
                                   json={"model": "text-embedding-3-small", "input": ["one", "two"]})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert len(data) == 2 and all(len(item["embedding"]) == 8 for item in data)
    assert data[0]["embedding"] != data[1]["embedding"]
    assert provider.stats()["hits"] == {"text-embedding-3-small": 1}


def test_anthropic_messages_with_x_api_key(gateway: Gateway, provider: FakeProvider) -> None:
    """What the Anthropic SDK sends: x-api-key and anthropic-version; it gets Anthropic's format back."""
    mark = marker()
    response = gateway.client.post(
        "/v1/messages",
        headers={"x-api-key": gateway.key, "anthropic-version": "2023-06-01"},
        json={"model": "claude-3-5-sonnet", "max_tokens": 64, "messages": [{"role": "user", "content": mark}]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "message" and body["role"] == "assistant"
    assert mark in "".join(block["text"] for block in body["content"] if block["type"] == "text")
    assert provider.stats()["hits"] == {"claude-3-5-sonnet-20241022": 1}
    assert_clean_headers(response)
