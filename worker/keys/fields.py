"""Validation of LiteLLM-shaped admin bodies: every bad input names its field.

Fields follow LiteLLM's GenerateKeyRequest/UpdateKeyRequest. Unknown fields are ignored (LiteLLM
clients send many defaults), except the LiteLLM fields that restrict a key and that this gateway does
not enforce (UNENFORCED): a value other than a default is refused, so an operator is never told a
restriction holds when it does not.
"""

from __future__ import annotations

import json
from typing import Any

from keys.material import KEY_PREFIX, MARKED_PREFIX, MAX_KEY_LENGTH, MIN_CUSTOM_KEY_LENGTH
from metering.periods import MAX_PERIOD_MS, parse_period_ms
from rules.errors import Refused, field_invalid

MAX_TEXT = 256  # aliases, ids and model names
MAX_MODELS = 256
MAX_METADATA_BYTES = 16_384
MAX_METADATA_DEPTH = 32  # far deeper, storing the key (asdict, json) runs out of Python's recursion limit
MAX_LIMIT = 10**12  # JS numbers stay exact far beyond any sane limit
# LiteLLM 1.108.7's key fields that limit, route, guard or scope a key (or, `grace_period`, keep a regenerated
# one alive), none enforced here. LiteLLM moves many into `metadata` and reads them there: refused there too.
# tests/project/test_litellm_key_fields.py finds a field LiteLLM adds.
UNENFORCED = (
    "model_max_budget", "model_rpm_limit", "model_tpm_limit", "model_itpm_limit", "model_otpm_limit", "tpd_limit",
    "budget_limits", "budget_id", "budget_fallbacks", "temp_budget_increase", "temp_budget_expiry", "soft_budget",
    "mcp_rpm_limit", "tag_rpm_limit", "rpm_limit_type", "tpm_limit_type", "default_estimated_output_tokens",
    "default_estimated_output_tokens_per_model", "throttle_on_budget_exceeded", "end_user_budget_id",
    "allowed_routes", "allowed_passthrough_routes", "denied_passthrough_routes", "allowed_cache_controls",
    "allowed_vector_store_indexes", "enforced_params", "enforced_batch_output_expires_after",
    "enforced_file_expires_after", "require_trace_id", "guardrails", "policies", "prompts", "permissions",
    "object_permission", "aliases", "config", "router_settings", "tags", "access_group_ids", "organization_id",
    "project_id", "agent_id", "key_type", "auto_rotate", "rotation_interval", "grace_period",
)
# What LiteLLM's clients send for a field they leave alone (its CLI sends `aliases: {}`, `config: {}`);
# `key_type` has a default of its own.
_DEFAULTS: tuple[Any, ...] = (None, 0, "", [], {})
_OWN_DEFAULTS = {"key_type": "default"}
SETTINGS = ("key_alias", "models", "rpm_limit", "tpm_limit", "max_parallel_requests", "max_budget",
            "budget_duration", "duration", "metadata", "user_id", "team_id", "blocked", "spend")


class Invalid(Refused):
    """Bad admin input; `field` names what to fix (answered as errors.field_invalid, a 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field_invalid(field, message))
        self.field = field
        self.message = message


def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid("body", "send a JSON object")
    return body


def parse_settings(body: dict[str, Any]) -> dict[str, Any]:
    """The settings present in `body`, validated; JSON null clears a nullable setting (`spend`: null is
    no change, as LiteLLM's update reads it)."""
    _refuse_unenforced(body, "")
    parsed: dict[str, Any] = {}
    for name in SETTINGS:
        if name in body and not (name == "spend" and body[name] is None):
            parsed[name] = _PARSERS[name](name, body[name])
    if isinstance(body.get("metadata"), dict):
        _refuse_unenforced(body["metadata"], "metadata.")
    return parsed


def _refuse_unenforced(fields: dict[str, Any], prefix: str) -> None:
    for name in UNENFORCED:
        value = fields.get(name)
        if value not in _DEFAULTS and value != _OWN_DEFAULTS.get(name):  # false == 0: a default too
            raise Invalid(prefix + name, f"{prefix + name} is not enforced by this gateway: leave it unset")


def parse_custom_key(value: Any, field: str = "key") -> str:
    """A caller-chosen key (LiteLLM's `key` on generate, `new_key` on regenerate)."""
    if (not isinstance(value, str) or not value.startswith(KEY_PREFIX)
            or not MIN_CUSTOM_KEY_LENGTH <= len(value) <= MAX_KEY_LENGTH
            or not value.isascii() or not value.isprintable() or " " in value):
        raise Invalid(field, f"must start with '{KEY_PREFIX}' and be {MIN_CUSTOM_KEY_LENGTH} to "
                             f"{MAX_KEY_LENGTH} printable characters without spaces")
    if value.startswith(MARKED_PREFIX):  # the edge would take it for a forged key of its own and refuse it
        raise Invalid(field, f"must not start with '{MARKED_PREFIX}', the prefix of keys the gateway marks")
    return value


def text_list(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise Invalid(name, "must be a list of non-empty strings")
    return value


def _optional_text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TEXT:
        raise Invalid(name, f"must be a string of 1 to {MAX_TEXT} characters")
    return value


def _models(name: str, value: Any) -> list[str]:
    models = text_list(name, [] if value is None else value)
    if len(models) > MAX_MODELS or any(len(model) > MAX_TEXT for model in models):
        raise Invalid(name, f"at most {MAX_MODELS} names of up to {MAX_TEXT} characters")
    return list(dict.fromkeys(models))


def _limit(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LIMIT:
        raise Invalid(name, "must be a whole number >= 0 or null")
    return value


def _budget(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_LIMIT:  # NaN too
        raise Invalid(name, f"must be a number of USD from 0 to {MAX_LIMIT} or null")
    return float(value)


def _period(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(name, "must be a duration such as 30s, 30m, 30h, 30d or 2w")
    try:
        period_ms = parse_period_ms(value)
    except ValueError as exc:
        raise Invalid(name, str(exc)) from None
    if period_ms > MAX_PERIOD_MS:
        raise Invalid(name, f"at most {MAX_PERIOD_MS // 86_400_000}d")
    return value.strip()


def _metadata(name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(name, "must be a JSON object")
    if _depth(value) > MAX_METADATA_DEPTH:
        raise Invalid(name, f"must nest at most {MAX_METADATA_DEPTH} levels deep")
    try:
        size = len(json.dumps(value, allow_nan=False))
    except ValueError:  # NaN or Infinity: not JSON, so answers naming the key would not be either
        raise Invalid(name, "must hold finite numbers only") from None
    if size > MAX_METADATA_BYTES:
        raise Invalid(name, f"must serialise to at most {MAX_METADATA_BYTES} bytes")
    return value


def _depth(value: Any) -> int:
    """How many objects and arrays deep a JSON value nests, counted without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _flag(name: str, value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise Invalid(name, "must be true or false")
    return value


_PARSERS = {
    "key_alias": _optional_text, "user_id": _optional_text, "team_id": _optional_text,
    "models": _models, "rpm_limit": _limit, "tpm_limit": _limit, "max_parallel_requests": _limit,
    "max_budget": _budget, "budget_duration": _period, "duration": _period, "metadata": _metadata,
    "blocked": _flag, "spend": _budget,
}
