"""The edge request policy for JSON API calls: what a client may ask LiteLLM to do with the operator's keys.

Pure: takes the body read once at the edge (its json_scan.Shape, or its bytes), returns a verdict. A
deny-list, not an allow-list: the providers' own parameters (OpenAI's, Anthropic's, Gemini's, …) are many
and grow every month, and an allow-list would break clients on each new one; what must never come from a
client is the set of names LiteLLM consumes itself — credentials, endpoints, provider steering, routing,
pricing, mocking and logging sinks — which LiteLLM publishes as a list (`litellm_params.py`). Of those, a
few harmless ones are allowed, and the retry/timeout knobs are capped rather than refused (SDKs send
`timeout` on their own). For a virtual key with a budget or a tpm_limit, the output a request may generate is
capped to fit what its key reserved for it (`output_caps`, keys.reservations).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from edge.litellm_params import LITELLM_OWN_PARAMS
from keys.reservations import BUDGET, INPUT, MIN_OUTPUT_TOKENS, NONE, OTHER, OUTPUT, Grant, output_allowance, price_of
from metering.pricing import Price
from rules import errors
from rules.json_scan import MAX_MEMBER_BYTES, JsonRefused, Shape, scan

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
    "router_settings_override",  # per-request retries and fallbacks: 5 retries got past MAX_NUM_RETRIES (measured)
})
DENIED_PREFIXES = ("mock_", "aws_", "azure_", "vertex_", "litellm_", "anthropic_identity", "openai_identity")
NESTED_CHECKED = ("metadata",)  # LiteLLM reads credentials from here too: same rules one level down
NO_FALLBACKS = "disable_fallbacks"  # LiteLLM's per-request switch: no other model group after a failure
CONTINUES = "previous_response_id"  # a stored response the body continues (model_choice)
# The operations whose cost is their prompt and the text they generate: the members that cap the text (the first
# is written when the client sent none) and those that multiply it (choices generated, each up to the cap).
OUTPUT_CAPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "/chat/completions": (("max_tokens", "max_completion_tokens"), ("n",)),
    "/completions": (("max_tokens",), ("n", "best_of")),
    "/responses": (("max_output_tokens",), ()),
    "/messages": (("max_tokens",), ()),
}
PROMPT_PRICED = frozenset({"/embeddings", "/moderations", "/messages/count_tokens", "/responses/input_tokens"})
OUTPUT_PARAMS = frozenset(name for pair in OUTPUT_CAPS.values() for names in pair for name in names)
# The members the policy decodes; every other one is only named (json_scan never builds it).
WANTED = frozenset({"model", "stream", "stream_options", NO_FALLBACKS, CONTINUES, *NESTED_CHECKED, *RETRY_PARAMS,
                    *TIMEOUT_PARAMS, *OUTPUT_PARAMS})


@dataclass(frozen=True)
class OutputCap:
    """What a virtual key reserved for a request (keys.reservations), which its output is capped to fit."""

    grant: Grant
    prices: dict[str, Price]  # the rates reserved at, by model
    operation: str  # the endpoint (an OUTPUT_CAPS or PROMPT_PRICED key: `operation`)
    named: tuple[str, ...] = ()  # the models the request names outside its body (path, query): priced too


@dataclass(frozen=True)
class Caps:
    max_num_retries: int
    max_seconds: int
    no_fallbacks: bool = False  # a key with a model list: LiteLLM must not fall back to a model outside it
    output: OutputCap | None = None  # a key with a budget or tpm_limit: the output cap its reservation allows


@dataclass(frozen=True)
class Edit:
    """Replace body[start:end] with `text` (start == end inserts)."""

    start: int
    end: int
    text: bytes


@dataclass(frozen=True)
class Verdict:
    """A body the gateway forwards: the client's bytes, with `changes` (member -> new value) written in when
    a cap or metering needs them (see `edits`); no changes: the same bytes go on."""

    model: Any  # the body's `model` as sent (None: absent or null); model_choice decides what it means
    stream: bool
    changes: dict[str, Any] = field(default_factory=dict)
    added_usage: bool = False  # stream_options.include_usage was set for metering: strip that chunk again
    continues: Any = None  # `previous_response_id` as sent

    @property
    def capped(self) -> tuple[str, ...]:
        return tuple(name for name in self.changes if name not in ("stream_options", NO_FALLBACKS))


def is_denied(name: str) -> bool:
    if name in ALLOWED_LITELLM_PARAMS or name in RETRY_PARAMS or name in TIMEOUT_PARAMS:
        return False
    return name in LITELLM_OWN_PARAMS or name in EXTRA_DENIED_PARAMS or name.startswith(DENIED_PREFIXES)


def refused_body(refusal: JsonRefused) -> errors.GatewayError:
    """A body json_scan refused, as the client's error: a member too large to judge names its parameter."""
    if refusal.member is not None:
        return errors.param_invalid(refusal.member, f"at most {MAX_MEMBER_BYTES} bytes of JSON")
    return errors.invalid_body(refusal.reason)


def judge(raw: bytes, caps: Caps, ask_usage: bool = False) -> Verdict | errors.GatewayError:
    """The verdict on a whole JSON request body held in Python (see judge_shape)."""
    try:
        return judge_shape(scan(raw, WANTED), caps, ask_usage)
    except JsonRefused as refusal:
        return refused_body(refusal)


def rewritten(raw: bytes, verdict: Verdict) -> bytes | None:
    """The bytes to forward when the verdict changes members, else None (the client's bytes go on)."""
    if not verdict.changes:
        return None
    return edited(raw, edits(scan(raw, WANTED, located=True), verdict.changes))


def judge_shape(shape: Shape, caps: Caps, ask_usage: bool = False) -> Verdict | errors.GatewayError:
    """The verdict on one scanned JSON request body: refused (400 naming the field), or accepted with caps
    applied as edits of the bytes.

    `ask_usage` (OpenAI streams that are metered): a stream that does not ask for its usage chunk gets
    `stream_options.include_usage` set, and `added_usage` tells the caller to remove that chunk again.
    `caps.no_fallbacks`: `disable_fallbacks` is set true, whatever the client sent (LiteLLM pops it from the
    request before any provider sees it, and honours it only as the JSON value `true`).
    """
    data = shape.values
    for name in shape.names:
        if is_denied(name):
            return errors.param_not_allowed(name)
    for outer in NESTED_CHECKED:
        inner = data.get(outer)
        if isinstance(inner, dict):
            for name in inner:
                if name not in ALLOWED_LITELLM_PARAMS and (is_denied(name) or name in RETRY_PARAMS
                                                           or name in TIMEOUT_PARAMS):
                    return errors.param_not_allowed(f"{outer}.{name}")
    changes: dict[str, Any] = {}  # member -> the value written in its place
    for names, limit, kind in ((RETRY_PARAMS, caps.max_num_retries, "a non-negative integer"),
                               (TIMEOUT_PARAMS, caps.max_seconds, "a positive number of seconds")):
        for name in names:
            value = data.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                    or value < 0:
                return errors.param_invalid(name, kind)
            if value > limit:
                changes[name] = limit
    stream = data.get("stream") is True
    options = data.get("stream_options")
    added_usage = ask_usage and stream and not (isinstance(options, dict) and options.get("include_usage") is True)
    if added_usage:
        changes["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    if caps.no_fallbacks and data.get(NO_FALLBACKS) is not True:
        changes[NO_FALLBACKS] = True
    if caps.output is not None:
        capped = output_caps(data, shape.size, caps.output)
        if isinstance(capped, errors.GatewayError):
            return capped
        changes.update(capped)
    return Verdict(data.get("model"), stream, changes, added_usage, data.get(CONTINUES))


def operation(target: str) -> str:
    """The endpoint of LiteLLM's path `target` (routing.upstream_path): `/v1/chat/completions` and an Azure
    deployment's `/openai/deployments/{model}/chat/completions` are both `/chat/completions`."""
    if target.startswith("/openai/deployments/"):
        parts = target.split("/", 4)
        return "/" + parts[4] if len(parts) == 5 else target
    return target.removeprefix("/v1")


def cost_kind(method: str, target: str) -> str:
    """What a request's cost depends on (keys.reservations): generated text, its prompt only, something else
    (images, audio: not a price per token), or nothing (no body to act on)."""
    if method != "POST":
        return NONE
    name = operation(target)
    return OUTPUT if name in OUTPUT_CAPS else INPUT if name in PROMPT_PRICED else OTHER


def output_caps(data: dict[str, Any], size: int, cap: OutputCap) -> dict[str, Any] | errors.GatewayError:
    """The members capping a request's output, lowered to fit what its key reserved (written when the client sent
    none): each choice gets an equal share. The key's 429 when a minimal answer (a prompt-only request: its prompt)
    does not fit; 400 for a cap or a choice count that is not a whole number."""
    members, multipliers = OUTPUT_CAPS.get(cap.operation, ((), ()))
    choices = 1
    for name in multipliers:
        value = data.get(name)
        if value is not None and not (_whole(value) and value >= 1):
            return errors.param_invalid(name, "a positive integer")
        choices = max(choices, value or 1)
    sent: dict[str, int] = {}
    for name in members:
        value = data.get(name)
        if value is not None and not (_whole(value) and value >= 0):
            return errors.param_invalid(name, "a non-negative integer")
        if value is not None:
            sent[name] = value
    price = price_of(cap.prices, (*cap.named, data.get("model")))
    allowed, bound = output_allowance(cap.grant, size, price)
    each = allowed // choices if allowed > 0 else allowed
    if each < (MIN_OUTPUT_TOKENS if members else 0):
        if bound == BUDGET:
            return errors.insufficient_quota("This API key's budget left does not cover this request.", 1)
        return errors.rate_limit_exceeded("Rate limit reached: this request needs more tokens than this API key "
                                          "has left of its tokens per minute.", "tokens", 1)
    if not members:
        return {}
    if not sent:
        return {members[0]: each}
    return {name: each for name, value in sent.items() if value > each}


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def edits(shape: Shape, changes: dict[str, Any]) -> tuple[Edit, ...]:
    """Where `changes` go in the bytes: over a member's value, or as a new member before the closing brace
    (after a comma, unless the object is still empty there). Needs a located shape."""
    assert shape.located, "edits need the spans only the Scanner gives"
    out = []
    members = bool(shape.names)
    for name, value in changes.items():
        text = json.dumps(value, separators=(",", ":")).encode()
        if name in shape.spans:
            out.append(Edit(*shape.spans[name], text))
        else:
            lead = b"," if members else b""
            out.append(Edit(shape.close, shape.close, lead + json.dumps(name).encode() + b":" + text))
            members = True
    return tuple(out)


def spliced(size: int, edits: tuple[Edit, ...]) -> list[tuple[int, int] | bytes]:
    """A body of `size` bytes with `edits` applied, as pieces: (start, end) ranges of the original bytes and the
    bytes written in, in order (pure; the edge maps the ranges onto the body's JS chunks, never copying them)."""
    pieces: list[tuple[int, int] | bytes] = []
    at = 0
    for edit in sorted(edits, key=lambda e: e.start):
        if edit.start > at:
            pieces.append((at, edit.start))
        pieces.append(edit.text)
        at = edit.end
    if size > at:
        pieces.append((at, size))
    return pieces


def edited(raw: bytes, edits: tuple[Edit, ...]) -> bytes:
    """The body with `edits` applied."""
    return b"".join(raw[piece[0]:piece[1]] if isinstance(piece, tuple) else piece
                    for piece in spliced(len(raw), edits))
