"""Every client in its own dialect: base URLs without /v1, Azure deployment routes, Anthropic-shaped
errors with `request-id`, HEAD on GET API routes, and preflights carrying the SDKs' headers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.assertions import openai_error
from tests.e2e.conftest import launch
from tests.harness import FakeProvider, Gateway

AZURE_QUERY = "?api-version=2024-10-21"
ORIGIN = "https://app.example.com"


def chat_body(text: str, model: str = "gpt-4o-mini") -> dict:
    return {"model": model, "messages": [{"role": "user", "content": text}]}


def messages_body(text: str) -> dict:
    return {"model": "claude-3-5-sonnet", "max_tokens": 16, "messages": [{"role": "user", "content": text}]}


def reached(provider: FakeProvider) -> list[str]:
    return [entry["marker"] for entry in provider.stats()["requests"]]


# -- 1. base URLs without /v1 --------------------------------------------------------------------

def test_unprefixed_api_paths_are_served(gateway: Gateway, provider: FakeProvider) -> None:
    chat = gateway.client.post("/chat/completions", json=chat_body("no-v1-chat"), headers=gateway.auth())
    assert chat.status_code == 200, chat.text
    assert chat.json()["choices"][0]["message"]["content"] == "echo: no-v1-chat"
    legacy = gateway.client.post("/completions", json={"model": "gpt-3.5-turbo-instruct", "prompt": "no-v1-legacy"},
                                 headers=gateway.auth())
    assert legacy.status_code == 200 and legacy.json()["choices"][0]["text"] == "echo: no-v1-legacy"
    embeddings = gateway.client.post("/embeddings", json={"model": "text-embedding-3-small", "input": "no-v1-emb"},
                                     headers=gateway.auth())
    assert embeddings.status_code == 200 and len(embeddings.json()["data"][0]["embedding"]) == 8
    messages = gateway.client.post("/messages", json=messages_body("no-v1-msg"), headers={"x-api-key": gateway.key})
    assert messages.status_code == 200 and messages.json()["content"][0]["text"] == "echo: no-v1-msg"
    models = gateway.client.get("/models", headers=gateway.auth())
    assert models.status_code == 200 and "gpt-4o-mini" in {m["id"] for m in models.json()["data"]}
    assert {"no-v1-chat", "no-v1-legacy", "no-v1-emb", "no-v1-msg"} <= set(reached(provider))


@pytest.mark.parametrize("path", ["/v1/key/generate", "/key/generate/x", "/model/info", "/model/new", "/user/new",
                                  "/v1/spend/logs", "/global/spend/logs", "/routes", "/openapi.json", "/chat",
                                  "/v1/v1/models",
                                  "/anthropic/v1/messages", "/openai/v1/chat/completions", "/openai/models",
                                  "/openai/deployments/gpt-4o-mini/images/generations", "/openai/chat/completions"])
def test_unprefixed_and_openai_namespaces_stay_closed(gateway: Gateway, path: str) -> None:
    for method in ("GET", "POST"):
        answer = gateway.client.request(method, path, headers=gateway.auth(), json={} if method == "POST" else None)
        assert answer.status_code == 404, (method, path, answer.text)
        assert openai_error(answer)["code"] == "not_found"


# -- 2. Azure OpenAI clients --------------------------------------------------------------------------

def test_azure_deployment_routes_with_api_key(gateway: Gateway, provider: FakeProvider) -> None:
    azure = {"api-key": gateway.key}
    chat = gateway.client.post(f"/openai/deployments/gpt-4o-mini/chat/completions{AZURE_QUERY}",
                               json={"messages": chat_body("azure-chat")["messages"]}, headers=azure)
    assert chat.status_code == 200, chat.text
    assert chat.json()["choices"][0]["message"]["content"] == "echo: azure-chat"
    embeddings = gateway.client.post(f"/openai/deployments/text-embedding-3-small/embeddings{AZURE_QUERY}",
                                     json={"input": "azure-emb"}, headers=azure)
    assert embeddings.status_code == 200, embeddings.text
    legacy = gateway.client.post(f"/openai/deployments/gpt-3.5-turbo-instruct/completions{AZURE_QUERY}",
                                 json={"prompt": "azure-legacy"}, headers=azure)
    assert legacy.status_code == 200 and legacy.json()["choices"][0]["text"] == "echo: azure-legacy"
    assert {"azure-chat", "azure-emb", "azure-legacy"} <= set(reached(provider))


def test_azure_routes_refuse_bad_keys_and_other_methods(gateway: Gateway, provider: FakeProvider) -> None:
    path = f"/openai/deployments/gpt-4o-mini/chat/completions{AZURE_QUERY}"
    wrong = gateway.client.post(path, json={"messages": []}, headers={"api-key": "sk-wrong"})
    assert wrong.status_code == 401 and openai_error(wrong)["code"] == "invalid_api_key"
    assert gateway.client.get(path, headers={"api-key": gateway.key}).status_code == 405
    assert reached(provider) == []


# -- 3. errors in the caller's dialect ----------------------------------------------------------------

@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens", "/messages"])
def test_anthropic_routes_answer_anthropic_errors(gateway: Gateway, provider: FakeProvider, path: str) -> None:
    answer = gateway.client.post(path, json=messages_body("x"), headers={"x-api-key": "sk-wrong"})
    assert answer.status_code == 401
    assert answer.json() == {"type": "error", "error": {"type": "authentication_error",
                                                        "message": answer.json()["error"]["message"]}}
    assert answer.headers["request-id"] == answer.headers["x-request-id"]
    too_large = gateway.raw("POST", path, {"x-api-key": gateway.key, "content-type": "application/json",
                                           "content-length": str(1 << 40)})
    assert too_large.status == 413 and too_large.json()["error"]["type"] == "request_too_large"
    put = gateway.client.put(path, headers={"x-api-key": gateway.key})
    assert put.status_code == 405 and put.json()["error"]["type"] == "invalid_request_error"
    assert reached(provider) == []


def test_anthropic_success_carries_request_id(gateway: Gateway) -> None:
    answer = gateway.client.post("/v1/messages", json=messages_body("rid"), headers={"x-api-key": gateway.key})
    assert answer.status_code == 200, answer.text
    assert answer.headers["request-id"] == answer.headers["x-request-id"]


def test_openai_errors_carry_param_null(gateway: Gateway) -> None:
    answer = gateway.client.post("/v1/chat/completions", json=chat_body("x"), headers={"authorization": "Bearer no"})
    assert answer.status_code == 401
    assert answer.json()["error"]["param"] is None and answer.json()["error"]["code"] == "invalid_api_key"
    assert "request-id" not in answer.headers


# -- 6. HEAD on GET API routes -------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/v1/models", "/models", "/v1/models/gpt-4o-mini"])
def test_head_answers_like_get_without_body(gateway: Gateway, path: str) -> None:
    get = gateway.client.get(path, headers=gateway.auth())
    head = gateway.client.head(path, headers=gateway.auth())
    assert head.status_code == get.status_code == 200
    assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["x-request-id"]
    assert gateway.client.head(path).status_code == 401  # auth first, as for GET


# -- 4. CORS for what the SDKs send (the browser itself: tests/clients/browser) ----------------------------

@pytest.fixture(scope="module")
def cors_gateway(litellm_config: Path) -> Iterator[Gateway]:
    """Preflights are the edge's alone: no container needed."""
    gateway = launch(litellm_config, containers=False, env={"CORS_ALLOWED_ORIGINS": ORIGIN})
    yield gateway
    gateway.stop()


@pytest.mark.local_only
@pytest.mark.parametrize(("path", "asked"), [
    ("/v1/chat/completions", "authorization, content-type, x-stainless-arch, x-stainless-helper-method, "
                             "x-stainless-lang, x-stainless-os, x-stainless-package-version, x-stainless-retry-count, "
                             "x-stainless-runtime, x-stainless-runtime-version, x-stainless-timeout"),
    ("/v1/messages", "anthropic-dangerous-direct-browser-access, anthropic-version, anthropic-beta, content-type, "
                     "x-api-key, x-stainless-helper-method, x-stainless-retry-count, x-stainless-timeout"),
    ("/openai/deployments/gpt-4o/chat/completions", "api-key, content-type, x-stainless-retry-count"),
    ("/chat/completions", "authorization, content-type, openai-organization, openai-project, x-session-affinity"),
])
def test_preflight_allows_what_the_sdks_send(cors_gateway: Gateway, path: str, asked: str) -> None:
    preflight = cors_gateway.client.options(path, headers={
        "origin": ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": asked})
    assert preflight.status_code == 204
    allowed = {name.strip() for name in preflight.headers["access-control-allow-headers"].split(",")}
    assert {name.strip() for name in asked.split(",")} <= allowed


@pytest.mark.local_only
def test_preflight_leaves_out_headers_no_sdk_sends(cors_gateway: Gateway) -> None:
    preflight = cors_gateway.client.options("/v1/chat/completions", headers={
        "origin": ORIGIN, "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, x-litellm-timeout, cookie"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-headers"] == "authorization"
