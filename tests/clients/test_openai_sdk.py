"""The official `openai` Python SDK, unmodified, against the gateway: the calls people make every day."""

from __future__ import annotations

import base64
import uuid

import openai
import pytest
from openai import AzureOpenAI, OpenAI

from tests.harness import Gateway

AZURE_API_VERSION = "2024-10-21"


def marker(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["/v1", ""], ids=["base-url-v1", "base-url-without-v1"])
def client(request: pytest.FixtureRequest, sdk_gateway: Gateway) -> OpenAI:
    """Both base URLs people use: LiteLLM's docs give it without /v1, OpenAI's with it."""
    return OpenAI(base_url=sdk_gateway.url + request.param, api_key=sdk_gateway.key, max_retries=0)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_chat(client: OpenAI) -> None:
    text = marker("chat")
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=user(text))
    assert completion.choices[0].message.content == f"echo: {text}"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert completion._request_id and completion._request_id.startswith("req_")


def test_chat_stream_with_usage(client: OpenAI) -> None:
    text = marker("stream")
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=user(text), stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == f"echo: {text}"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_stream_helper(client: OpenAI) -> None:
    """`chat.completions.stream` sends x-stainless-helper-method: chat.completions.stream."""
    text = marker("helper")
    with client.chat.completions.stream(model="gpt-4o", messages=user(text)) as stream:
        deltas = [event.delta for event in stream if event.type == "content.delta"]
        final = stream.get_final_completion()
    assert "".join(deltas) == f"echo: {text}" == final.choices[0].message.content


def test_tools_round_trip(client: OpenAI) -> None:
    """Tool definitions, a tool call in the history and its result all pass through to the provider."""
    text = marker("tools")
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "user", "content": text},
    ]
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=tools,
                                                tool_choice="auto")
    assert completion.choices[0].message.content == f"echo: {text}"


def test_embeddings(client: OpenAI) -> None:
    """The SDK asks for base64 by default and decodes it."""
    result = client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])
    assert [len(item.embedding) for item in result.data] == [8, 8]
    assert result.data[0].embedding != result.data[1].embedding
    raw = client.embeddings.create(model="text-embedding-3-small", input="alpha", encoding_format="base64")
    assert len(base64.b64decode(str(raw.data[0].embedding))) == 8 * 4


def test_legacy_completion_and_stream(client: OpenAI) -> None:
    text = marker("legacy")
    assert client.completions.create(model="gpt-3.5-turbo-instruct", prompt=text).choices[0].text == f"echo: {text}"
    chunks = list(client.completions.create(model="gpt-3.5-turbo-instruct", prompt=text, stream=True))
    # LiteLLM's last chunk carries only finish_reason, no `text` (README: Known upstream issues).
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].text or "" for c in chunks) == f"echo: {text}"


def test_models(client: OpenAI) -> None:
    ids = {model.id for model in client.models.list()}
    assert {"gpt-4o-mini", "claude-3-5-sonnet", "text-embedding-3-small"} <= ids


def test_typed_errors(sdk_gateway: Gateway, client: OpenAI) -> None:
    bad = OpenAI(base_url=str(client.base_url), api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as auth:
        bad.chat.completions.create(model="gpt-4o-mini", messages=user("x"))
    assert auth.value.code == "invalid_api_key" and auth.value.param is None
    assert auth.value.request_id and auth.value.request_id.startswith("req_")
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="limited", messages=user("x"))
    assert limited.value.response.headers["retry-after"] == "7"  # the SDK's back-off reads it
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="broken", messages=user("x"))
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="no-such-model", messages=user("x"))


def test_azure_client(sdk_gateway: Gateway) -> None:
    """AzureOpenAI: /openai/deployments/{model}/... with api-version, the key in `api-key`."""
    azure = AzureOpenAI(azure_endpoint=sdk_gateway.url, api_key=sdk_gateway.key, api_version=AZURE_API_VERSION,
                        max_retries=0)
    text = marker("azure")
    completion = azure.chat.completions.create(model="gpt-4o-mini", messages=user(text))
    assert completion.choices[0].message.content == f"echo: {text}"
    streamed = azure.chat.completions.create(model="gpt-4o-mini", messages=user(text), stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == f"echo: {text}"
    vectors = azure.embeddings.create(model="text-embedding-3-small", input=["alpha"])
    assert len(vectors.data[0].embedding) == 8
    bad = AzureOpenAI(azure_endpoint=sdk_gateway.url, api_key="sk-wrong", api_version=AZURE_API_VERSION,
                      max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="gpt-4o-mini", messages=user("x"))
