"""The edge request policy: what a client body may carry to LiteLLM (pure, CPython)."""

from __future__ import annotations

import json

import pytest

from edge.request_policy import Caps, Verdict, is_denied, judge, rewritten

CAPS = Caps(max_num_retries=2, max_seconds=600)

# Every parameter the OpenAI and Anthropic APIs document for the forwarded endpoints must pass.
PROVIDER_PARAMS = (
    "messages", "model", "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
    "max_completion_tokens", "max_tokens", "metadata", "modalities", "n", "parallel_tool_calls", "prediction",
    "presence_penalty", "prompt_cache_key", "reasoning_effort", "response_format", "safety_identifier", "seed",
    "service_tier", "stop", "store", "stream", "stream_options", "temperature", "tool_choice", "tools",
    "top_logprobs", "top_p", "user", "verbosity", "web_search_options", "input", "instructions",
    "previous_response_id", "reasoning", "text", "truncation", "include", "background", "conversation",
    "prompt", "max_output_tokens", "dimensions", "encoding_format", "size", "quality", "style", "query",
    "documents", "top_n", "return_documents", "voice", "speed", "system", "stop_sequences", "top_k", "thinking",
    "suffix", "best_of", "echo",
)


@pytest.mark.parametrize("name", PROVIDER_PARAMS)
def test_provider_parameters_pass(name: str) -> None:
    assert not is_denied(name)


@pytest.mark.parametrize("name", [
    "custom_llm_provider", "api_base", "base_url", "api_key", "api_version", "extra_headers", "headers",
    "user_config", "model_list", "litellm_params", "mock_response", "mock_testing_fallbacks", "fallbacks",
    "aws_access_key_id", "vertex_credentials", "azure_ad_token", "organization", "input_cost_per_token",
    "litellm_metadata", "langfuse_secret_key", "router_settings_override",
])
def test_steering_and_credential_parameters_are_refused_by_name(name: str) -> None:
    verdict = judge(json.dumps({"model": "gpt-4o", name: "x"}).encode(), CAPS)
    assert not isinstance(verdict, Verdict)
    assert verdict.status == 400 and verdict.code == "param_not_allowed" and verdict.param == name
    assert f"'{name}'" in verdict.message and json.loads(verdict.body())["error"]["param"] == name


def test_credentials_hidden_in_metadata_are_refused() -> None:
    verdict = judge(b'{"model": "m", "metadata": {"api_base": "http://evil"}}', CAPS)
    assert not isinstance(verdict, Verdict) and verdict.param == "metadata.api_base"
    assert isinstance(judge(b'{"model": "m", "metadata": {"user_id": "u-1", "tags": ["a"]}}', CAPS), Verdict)


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"null", b"42", b"{not json", b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_refused(raw: bytes) -> None:
    verdict = judge(raw, CAPS)
    assert not isinstance(verdict, Verdict) and verdict.status == 400 and verdict.code == "invalid_body"


def test_untouched_bodies_are_forwarded_as_the_same_bytes() -> None:
    raw = b'{"model": "gpt-4o", "stream": true, "timeout": 30, "num_retries": 1, "metadata": {"a": 1}}'
    verdict = judge(raw, CAPS)
    assert verdict == Verdict(model="gpt-4o", stream=True)
    assert rewritten(raw, verdict) is None


def test_retries_and_timeouts_are_capped() -> None:
    raw = b'{"model": "m", "num_retries": 1000, "timeout": 99999, "stream_timeout": 5}'
    verdict = judge(raw, CAPS)
    assert isinstance(verdict, Verdict) and verdict.capped == ("num_retries", "timeout")
    body = rewritten(raw, verdict)
    assert body is not None
    assert json.loads(body) == {"model": "m", "num_retries": 2, "timeout": 600, "stream_timeout": 5}


@pytest.mark.parametrize("body", [
    {"num_retries": "many"}, {"timeout": -1}, {"max_retries": True}, {"request_timeout": "Infinity"},
])
def test_malformed_caps_are_refused(body: dict) -> None:
    verdict = judge(json.dumps({"model": "m", **body}).encode(), CAPS)
    assert not isinstance(verdict, Verdict) and verdict.code == "param_invalid" and verdict.param == next(iter(body))


def test_metered_streams_ask_for_usage_once() -> None:
    raw = b'{"model": "m", "stream": true, "stream_options": {"x": 1}}'
    verdict = judge(raw, CAPS, ask_usage=True)
    assert isinstance(verdict, Verdict) and verdict.added_usage
    assert json.loads(rewritten(raw, verdict) or b"")["stream_options"] == {"x": 1, "include_usage": True}
    bare = b'{"model": "m", "stream": true}'
    added = judge(bare, CAPS, ask_usage=True)
    assert isinstance(added, Verdict) and added.added_usage
    assert json.loads(rewritten(bare, added) or b"") == {"model": "m", "stream": True,
                                                         "stream_options": {"include_usage": True}}
    asked = judge(b'{"model": "m", "stream": true, "stream_options": {"include_usage": true}}', CAPS, ask_usage=True)
    assert isinstance(asked, Verdict) and not asked.added_usage and not asked.changes
    plain = judge(b'{"model": "m", "stream": false}', CAPS, ask_usage=True)
    assert isinstance(plain, Verdict) and not plain.added_usage and not plain.changes
