"""Bad input gets a clear, OpenAI-shaped 4xx; big bodies arrive intact; oversized ones are refused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest

from tests.e2e.assertions import openai_error
from tests.harness import FakeProvider, Gateway

LIMIT = 10 * 1024 * 1024  # MAX_REQUEST_BYTES default (wrangler.jsonc)


def post(gateway: Gateway, body: bytes, content_type: str = "application/json"):  # type: ignore[no-untyped-def]
    return gateway.client.post("/v1/chat/completions", content=body,
                               headers=gateway.auth(**{"content-type": content_type}))


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b'{"model": "gpt-4o-mini"}', "application/json", 400),
        (b'{"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}', "application/json", 400),
        (b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}', "text/plain", 415),
        (b"model=gpt-4o-mini", "application/x-www-form-urlencoded", 415),
    ],
    ids=["malformed-json", "missing-messages", "unknown-model", "text-plain", "form"],
)
def test_bad_requests_get_clear_4xx(gateway: Gateway, provider: FakeProvider, body: bytes, content_type: str,
                                    status: int) -> None:
    response = post(gateway, body, content_type)
    assert response.status_code == status, response.text
    error = openai_error(response)
    assert error["type"] == "invalid_request_error"
    assert provider.stats()["hits"] == {}


def test_json_that_is_not_an_object_still_gets_an_openai_shaped_error(gateway: Gateway) -> None:
    response = post(gateway, b"[]")
    assert 400 <= response.status_code < 600
    assert response.headers["content-type"].startswith("application/json")
    openai_error(response)


def test_one_megabyte_prompt_arrives_intact(gateway: Gateway, provider: FakeProvider) -> None:
    prompt = ("0123456789abcdef" * 65536)[: 1024 * 1024]
    response = gateway.chat("gpt-4o-mini", prompt)
    assert response.status_code == 200, response.text[:300]
    seen = provider.stats()["requests"][-1]
    assert seen["marker_bytes"] == len(prompt)
    assert seen["marker_sha256"] == hashlib.sha256(prompt.encode()).hexdigest()


def test_declared_oversized_body_is_refused_before_litellm(gateway: Gateway, provider: FakeProvider) -> None:
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * LIMIT}]}).encode()
    response = post(gateway, body)
    assert response.status_code == 413, response.text[:200]
    assert openai_error(response)["code"] == "request_too_large"
    assert provider.stats()["hits"] == {}


def test_streamed_oversized_body_without_length_is_refused(gateway: Gateway, provider: FakeProvider) -> None:
    """Chunked upload, no Content-Length: counted in flight, refused once over the limit."""

    def chunks() -> Iterator[bytes]:
        yield b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "'
        for _ in range(12):
            yield b"y" * (1024 * 1024)
        yield b'"}]}'

    response = gateway.client.post("/v1/chat/completions", content=chunks(),
                                   headers=gateway.auth(**{"content-type": "application/json"}))
    assert response.status_code == 413, response.text[:200]
    assert openai_error(response)["code"] == "request_too_large"
    assert provider.stats()["hits"] == {}
    assert gateway.chat("gpt-4o-mini", "after-413").status_code == 200
