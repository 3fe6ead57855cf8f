"""The edge request policy for JSON API calls: what a client may ask LiteLLM to do with the operator's keys.

Pure: takes the body bytes read once at the edge, returns a verdict. A deny-list, not an allow-list: the
providers' own parameters (OpenAI's, Anthropic's, Gemini's, …) are many and grow every month, and an
allow-list would break clients on each new one; what must never come from a client is the set of names
LiteLLM consumes itself — credentials, endpoints, provider steering, routing, pricing, mocking and
logging sinks — which LiteLLM publishes as a list (`litellm_params.py`). Of those, a few harmless ones are
allowed, and the retry/timeout knobs are capped rather than refused (SDKs send `timeout` on their own).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import errors
from litellm_params import LITELLM_OWN_PARAMS

# LiteLLM names a client may send: request tracing, caching hints, logging opt-outs and OpenAI's own `metadata`.
ALLOWED_LITELLM_PARAMS = frozenset({
    "metadata", "tags", "cache", "ttl", "no-log", "turn_off_message_logging", "litellm_session_id",
    "litellm_trace_id",
})
RETRY_PARAMS = ("num_retries", "max_retries")  # capped at MAX_NUM_RETRIES
TIMEOUT_PARAMS = ("timeout", "request_timeout", "stream_timeout")  # capped at MAX_REQUEST_SECONDS
# Honoured by LiteLLM but missing from its list: headers sent to the provider (Host included), the
# OpenAI organisation billed with the operator's key, nested LiteLLM settings, test hooks.
EXTRA_DENIED_PARAMS = frozenset({
    "extra_headers", "extra_body", "headers", "organization", "deployment_id", "litellm_params", "user_config",
    "model_list", "base_url", "api_base", "api_key", "api_version", "secret_fields",
})
DENIED_PREFIXES = ("mock_", "aws_", "azure_", "vertex_", "litellm_", "anthropic_identity", "openai_identity")
NESTED_CHECKED = ("metadata",)  # LiteLLM reads credentials from here too: same rules one level down


@dataclass(frozen=True)
class Caps:
    max_num_retries: int
    max_seconds: int


@dataclass(frozen=True)
class Accepted:
    """A body the gateway forwards: `body` is None when the client's bytes go on unchanged."""

    model: str | None
    stream: bool
    body: bytes | None = None
    capped: tuple[str, ...] = field(default=())
    added_usage: bool = False  # stream_options.include_usage was set for metering: strip that chunk again


def is_denied(name: str) -> bool:
    if name in ALLOWED_LITELLM_PARAMS or name in RETRY_PARAMS or name in TIMEOUT_PARAMS:
        return False
    return name in LITELLM_OWN_PARAMS or name in EXTRA_DENIED_PARAMS or name.startswith(DENIED_PREFIXES)


def judge(raw: bytes, caps: Caps, ask_usage: bool = False) -> Accepted | errors.GatewayError:
    """The verdict on one JSON request body: refused (400 naming the field), or accepted with caps applied.

    `ask_usage` (OpenAI streams that are metered): a stream that does not ask for its usage chunk gets
    `stream_options.include_usage` set, and `added_usage` tells the caller to remove that chunk again.
    """
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return errors.invalid_body("it is not valid JSON")
    if not isinstance(data, dict):
        return errors.invalid_body(f"got a JSON {type(data).__name__.replace('dict', 'object')}")
    for name in data:
        if is_denied(name):
            return errors.param_not_allowed(name)
    for outer in NESTED_CHECKED:
        inner = data.get(outer)
        if isinstance(inner, dict):
            for name in inner:
                if name not in ALLOWED_LITELLM_PARAMS and (is_denied(name) or name in RETRY_PARAMS
                                                           or name in TIMEOUT_PARAMS):
                    return errors.param_not_allowed(f"{outer}.{name}")
    capped: list[str] = []
    for names, limit, kind in ((RETRY_PARAMS, caps.max_num_retries, "a non-negative integer"),
                               (TIMEOUT_PARAMS, caps.max_seconds, "a positive number of seconds")):
        for name in names:
            if name not in data or data[name] is None:
                continue
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                    or value < 0:
                return errors.param_invalid(name, kind)
            if value > limit:
                data[name] = limit
                capped.append(name)
    model = data.get("model")
    stream = data.get("stream") is True
    options = data.get("stream_options")
    added_usage = ask_usage and stream and not (isinstance(options, dict) and options.get("include_usage") is True)
    if added_usage:
        data["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    return Accepted(
        model=model if isinstance(model, str) else None,
        stream=stream,
        body=json.dumps(data).encode() if capped or added_usage else None,
        capped=tuple(capped),
        added_usage=added_usage,
    )
