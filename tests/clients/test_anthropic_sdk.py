"""The official `anthropic` Python SDK, unmodified, against the gateway (its base URL has no /v1)."""

from __future__ import annotations

import uuid

import anthropic
import pytest
from anthropic import Anthropic

from tests.clients.conftest import ANTHROPIC_LIMITED
from tests.harness import Gateway

MODEL = "claude-3-5-sonnet"


def marker(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def claude(sdk_gateway: Gateway) -> Anthropic:
    return Anthropic(base_url=sdk_gateway.url, api_key=sdk_gateway.key, max_retries=0)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_messages(claude: Anthropic) -> None:
    text = marker("msg")
    message = claude.messages.create(model=MODEL, max_tokens=64, messages=user(text))
    assert message.content[0].type == "text" and message.content[0].text == f"echo: {text}"
    assert message.usage.output_tokens > 0
    assert message._request_id and message._request_id.startswith("req_")  # read from `request-id`


def test_messages_stream_helper(claude: Anthropic) -> None:
    """`messages.stream` sends x-stainless-helper-method: stream."""
    text = marker("stream")
    with claude.messages.stream(model=MODEL, max_tokens=64, messages=user(text)) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == f"echo: {text}" == final.content[0].text
    assert final.stop_reason == "end_turn"


def test_raw_event_stream(claude: Anthropic) -> None:
    text = marker("raw")
    events = list(claude.messages.create(model=MODEL, max_tokens=64, messages=user(text), stream=True))
    kinds = [event.type for event in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "".join(e.delta.text for e in events if e.type == "content_block_delta") == f"echo: {text}"


def test_tools_round_trip(claude: Anthropic) -> None:
    text = marker("tools")
    tools = [{"name": "get_weather", "description": "Weather for a city",
              "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                           "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                                     {"type": "text", "text": text}]},
    ]
    message = claude.messages.create(model=MODEL, max_tokens=64, messages=messages, tools=tools)
    assert message.content[0].text == f"echo: {text}"  # the fake echoes the text parts


def test_typed_errors_carry_anthropic_bodies(sdk_gateway: Gateway) -> None:
    bad = Anthropic(base_url=sdk_gateway.url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as auth:
        bad.messages.create(model=MODEL, max_tokens=8, messages=user("x"))
    assert auth.value.body == {"type": "error", "error": {"type": "authentication_error",
                                                          "message": auth.value.body["error"]["message"]}}
    assert auth.value.request_id and auth.value.request_id == auth.value.response.headers["x-request-id"]
    with pytest.raises(anthropic.AuthenticationError):
        bad.messages.count_tokens(model=MODEL, messages=user("x"))
    with pytest.raises(anthropic.BadRequestError) as unknown:
        Anthropic(base_url=sdk_gateway.url, api_key=sdk_gateway.key, max_retries=0).messages.create(
            model="no-such-model", max_tokens=8, messages=user("x"))
    assert unknown.value.body["error"]["type"] == "invalid_request_error"


def test_provider_rate_limit(local_gateway: Gateway) -> None:
    claude = Anthropic(base_url=local_gateway.url, api_key=local_gateway.key, max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as limited:
        claude.messages.create(model=ANTHROPIC_LIMITED, max_tokens=8, messages=user("x"))
    assert limited.value.body["error"]["type"] == "rate_limit_error"
    # LiteLLM drops the provider's Retry-After on /v1/messages (README: Known upstream issues).
    assert "retry-after" not in limited.value.response.headers
