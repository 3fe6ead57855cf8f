"""What the edge answers itself: /, /health, auth, the route allow-list and response hygiene."""

from __future__ import annotations

import json

import pytest

from tests.e2e.assertions import assert_clean_headers, openai_error
from tests.harness import FakeProvider, Gateway

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "auth-probe"}]}


def test_root_is_tiny_and_public(gateway: Gateway) -> None:
    response = gateway.client.get("/")
    assert response.status_code == 200
    assert response.json() == {"service": "litellm-router", "status": "ok"}
    assert_clean_headers(response)


def test_health_reports_ready_container_without_secrets(gateway: Gateway) -> None:
    body = gateway.health()
    assert body["service"] == "litellm-router" and body["version"]
    # A container-backed gateway reports its booted container; one fronting an existing LiteLLM
    # (LITELLM_UPSTREAM_URL, e.g. real workerd with containers off) reports "upstream" and no boot.
    assert body["status"] == "ok" and body["container"]["state"] in ("ready", "upstream")
    if body["container"]["state"] == "ready":
        assert body["container_binding"] is True and body["container"]["last_boot_ms"] > 0
    text = str(body)
    assert gateway.key not in text and "127.0.0.1" not in text and "sk-" not in text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong-key"},
        {"authorization": "Bearer"},
        {"authorization": "Bearer "},
        {"authorization": ""},
        {"authorization": "Basic dXNlcjpwYXNz"},
        {"authorization": "garbage\tvalue with spaces"},
        {"x-api-key": "wrong-key"},
        {"x-api-key": ""},
    ],
    ids=["none", "wrong", "bearer-only", "bearer-space", "empty", "basic", "garbage", "x-api-key-wrong",
         "x-api-key-empty"],
)
def test_bad_credentials_get_401_and_reach_nothing(gateway: Gateway, provider: FakeProvider,
                                                   headers: dict[str, str]) -> None:
    response = gateway.raw("POST", "/v1/chat/completions", {"content-type": "application/json", **headers},
                           json.dumps(CHAT).encode())
    assert response.status == 401, response.body
    assert openai_error(response)["code"] == "invalid_api_key"
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    assert_clean_headers(response)
    assert provider.stats()["hits"] == {}, "an unauthenticated request reached the provider"
    assert "auth-probe" not in gateway.log_text()  # and no prompt in our logs either


@pytest.mark.parametrize("header", ["authorization", "x-api-key"])
def test_right_key_in_either_header_works(gateway: Gateway, provider: FakeProvider, header: str) -> None:
    value = f"bearer {gateway.key}" if header == "authorization" else gateway.key  # scheme is case-insensitive
    response = gateway.client.post("/v1/chat/completions", json=CHAT, headers={header: value})
    assert response.status_code == 200, response.text
    assert "auth-probe" in response.json()["choices"][0]["message"]["content"]
    assert provider.stats()["hits"] == {"gpt-4o-mini": 1}


@pytest.mark.parametrize("path", ["/openapi.json", "/routes", "/ui/login", "/ui/v1/models", "/docs",
                                  "/v1/key/generate", "/user/new", "/team/new", "/v1/model/info", "/health/liveliness",
                                  "/metrics"])
def test_litellm_internals_are_not_found(gateway: Gateway, path: str) -> None:
    for method in ("GET", "POST"):
        response = gateway.client.request(method, path, headers=gateway.auth())
        assert response.status_code == 404, (method, path, response.text[:200])
        assert openai_error(response)["code"] == "not_found"


def test_ui_is_the_gateways_own_console_never_litellms(gateway: Gateway, provider: FakeProvider) -> None:
    """/ui is the operator console, a static file (no Worker, no LiteLLM): its HTML carries no data or key."""
    assert gateway.client.get("/ui").status_code == 307
    page = gateway.client.get("/ui/")
    assert page.status_code == 200 and "litellm-router" in page.text and gateway.key not in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert provider.stats()["hits"] == {}


@pytest.mark.parametrize("raw_path", ["/v1/../openapi.json", "/v1/%2e%2e/openapi.json", "/v1/..%2fopenapi.json",
                                      "//openapi.json", "/v1//../routes", "/v1/chat/%2e%2e/%2e%2e/routes",
                                      "/v1/models/..%2F..%2Fopenapi.json"])
def test_path_tricks_do_not_reach_litellm_internals(gateway: Gateway, raw_path: str) -> None:
    """Sent byte for byte (httpx would normalise the path); nothing may come back from LiteLLM's pages."""
    response = gateway.raw("GET", raw_path, gateway.auth())
    body = response.body
    assert response.status in (400, 404), (raw_path, response.status, body[:200])
    assert b"openapi" not in body.lower() or b"No route" in body
    assert b"paths" not in body and b"swagger" not in body.lower()


def test_request_ids_are_echoed_when_sane_and_minted_otherwise(gateway: Gateway) -> None:
    echoed = gateway.client.get("/", headers={"x-request-id": "client-req-42"})
    assert echoed.headers["x-request-id"] == "client-req-42"
    forwarded = gateway.client.post("/v1/chat/completions", json=CHAT,
                                    headers=gateway.auth(**{"x-request-id": "abc.1"}))
    assert forwarded.status_code == 200 and forwarded.headers["x-request-id"] == "abc.1"
    minted = gateway.client.get("/", headers={"x-request-id": "bad id\twith junk"})
    assert minted.headers["x-request-id"] not in ("", "bad id\twith junk")
    assert minted.headers["x-request-id"].startswith("req_")


def test_no_internal_headers_on_any_response(gateway: Gateway) -> None:
    responses = [
        gateway.client.get("/"), gateway.client.get("/health"), gateway.client.get("/nope"),
        gateway.client.get("/v1/models"), gateway.client.get("/v1/models", headers=gateway.auth()),
        gateway.chat("gpt-4o-mini", "hygiene"), gateway.chat("flaky", "hygiene"), gateway.chat("limited", "hygiene"),
        gateway.chat("no-such-model", "hygiene"),
        gateway.client.post("/v1/chat/completions", headers=gateway.auth(), json={
            "model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hygiene"}]}),
    ]
    for response in responses:
        assert_clean_headers(response)


def test_cors_is_off_by_default(gateway: Gateway) -> None:
    """LiteLLM itself allows every origin; the edge must not pass that on."""
    origin = {"origin": "https://evil.example.com"}
    response = gateway.client.get("/v1/models", headers=gateway.auth(**origin))
    assert response.status_code == 200
    assert not any(name.startswith("access-control-") for name in response.headers)
    preflight = gateway.client.options("/v1/chat/completions", headers={
        **origin, "access-control-request-method": "POST"})
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers


def test_health_names_the_models_litellm_would_serve_for_free(gateway: Gateway) -> None:
    """A model without a price is never silently free: /health names it (and a warning is logged)."""
    assert gateway.chat("gpt-4o-mini", "priced?").status_code == 200
    container = gateway.health()["container"]
    assert "slow-stream" in container["unpriced_models"]  # the fake's gpt-delay300: LiteLLM has no price for it
    assert "gpt-4o-mini" not in container["unpriced_models"]
