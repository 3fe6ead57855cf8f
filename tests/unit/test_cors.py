"""Preflights allow what the official browser SDKs send, by name and by family, and nothing else."""

import pytest

from rules.cors import CorsPolicy, allowed_request_header, allowed_request_headers

ORIGIN = "https://app.example.com"

# Sent by openai 6.x and @anthropic-ai/sdk 1.x in a browser (stream helpers included), and by Azure clients.
SDK_HEADERS = [
    "authorization", "content-type", "accept", "x-api-key", "api-key", "x-request-id", "x-session-affinity",
    "x-stainless-arch", "x-stainless-lang", "x-stainless-os", "x-stainless-package-version",
    "x-stainless-retry-count", "x-stainless-runtime", "x-stainless-runtime-version", "x-stainless-timeout",
    "x-stainless-helper-method", "x-stainless-helper", "x-stainless-poll-helper", "anthropic-version",
    "anthropic-beta", "anthropic-dangerous-direct-browser-access", "openai-organization", "openai-project",
    "openai-beta", "idempotency-key", "traceparent",
]


@pytest.mark.parametrize("name", SDK_HEADERS)
def test_sdk_headers_are_allowed(name: str) -> None:
    assert allowed_request_header(name)
    assert allowed_request_header(name.upper())


@pytest.mark.parametrize("name", ["cookie", "x-forwarded-for", "x-litellm-timeout", "host", "x-stainless bad",
                                  "", "x-evil\r\nset-cookie"])
def test_other_headers_are_not(name: str) -> None:
    assert not allowed_request_header(name)


def test_preflight_echoes_the_allowed_subset_of_what_was_asked() -> None:
    asked = "Authorization, Content-Type, X-Stainless-Helper-Method, anthropic-version, x-litellm-timeout"
    assert allowed_request_headers(asked) == (
        "authorization, content-type, x-stainless-helper-method, anthropic-version")
    assert "authorization" in allowed_request_headers(None).split(", ")


def test_preflight_headers_for_listed_origin_only() -> None:
    policy = CorsPolicy.parse(ORIGIN)
    headers = policy.preflight_headers(ORIGIN, "authorization, x-stainless-helper-method")
    assert headers["access-control-allow-headers"] == "authorization, x-stainless-helper-method"
    assert "HEAD" in headers["access-control-allow-methods"]
    assert "Access-Control-Request-Headers" in headers["vary"]
    assert policy.preflight_headers("https://other.example.com", "authorization") == {}


def test_exposed_headers_include_both_request_id_names() -> None:
    exposed = CorsPolicy.parse(ORIGIN).response_headers(ORIGIN)["access-control-expose-headers"].split(", ")
    assert {"x-request-id", "request-id", "retry-after"} <= set(exposed)
