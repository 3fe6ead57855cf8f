"""Assertions shared by the e2e cases."""

from __future__ import annotations

import httpx

from tests.harness import RawResponse

# Headers LiteLLM adds that reveal internals (upstream URLs, versions, provider headers).
INTERNAL_PREFIXES = ("x-litellm-model-api-base", "x-litellm-version", "x-litellm-model-name", "llm_provider-",
                     "x-litellm-model-id", "x-litellm-response-cost", "server")


def openai_error(response: httpx.Response | RawResponse) -> dict:
    """Asserts the OpenAI error shape and returns the inner object."""
    body = response.json()
    assert "error" in body, body
    error = body["error"]
    assert {"message", "type", "code"} <= set(error), body
    assert isinstance(error["message"], str) and error["message"], body
    return error


def assert_clean_headers(response: httpx.Response | RawResponse) -> None:
    """No internals, and a request id on every response."""
    for name in response.headers:
        assert not name.lower().startswith(INTERNAL_PREFIXES), f"{name} leaked: {response.headers[name]}"
    assert response.headers.get("x-request-id"), dict(response.headers)


def anthropic_error(response: httpx.Response | RawResponse) -> dict:
    """Asserts Anthropic's error shape (`/v1/messages*`) and returns the inner object."""
    body = response.json()
    assert body.get("type") == "error" and isinstance(body.get("error"), dict), body
    error = body["error"]
    assert isinstance(error.get("type"), str) and isinstance(error.get("message"), str) and error["message"], body
    return error
