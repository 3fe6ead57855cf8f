"""The key API's field validation: only `Invalid` ever escapes, it names the culprit, and whatever is
accepted survives JSON, re-validation, and being stored and rendered on a key (no later 500)."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prop_strategies import json_values, nested, quick

from keys.fields import SETTINGS, UNENFORCED, Invalid, parse_custom_key, parse_settings, require_object
from keys.record import KeyRecord, generate_response
from metering.periods import parse_period_ms

NOW = 1_767_225_600_000  # 2026-01-01
periods = st.one_of(
    st.builds(lambda pad, n, unit: f"{pad}{n}{unit}{pad}", st.sampled_from(("", " ", "\t")), st.integers(1, 999),
              st.sampled_from("smhdw")),
    st.from_regex(r"\A\s?[1-9][0-9]{0,5}[smhdw]\s?\Z"),
    st.sampled_from(("hourly", "Daily", "weekly", "monthly", "999999w", "1mo", "0d", "")))
models = st.lists(st.sampled_from(("gpt-4o", "claude", "m", "all-proxy-models", "")), max_size=4)
plausible: dict[str, st.SearchStrategy[Any]] = {
    "key_alias": st.one_of(st.none(), st.text(min_size=1, max_size=300)),
    "user_id": st.one_of(st.none(), st.text(min_size=1, max_size=20)),
    "team_id": st.one_of(st.none(), st.text(min_size=1, max_size=20)),
    "models": st.one_of(st.none(), models, st.lists(st.text(max_size=20), max_size=5)),
    "rpm_limit": st.one_of(st.none(), st.booleans(), st.integers(-1, 10**12 + 1)),
    "tpm_limit": st.one_of(st.none(), st.integers(0, 10**13)),
    "max_parallel_requests": st.one_of(st.none(), st.booleans(), st.integers(0, 100)),
    "max_budget": st.one_of(st.none(), st.booleans(), st.integers(-1, 10**6), st.floats(-1, 1e13), st.just(10**400)),
    "spend": st.one_of(st.none(), st.integers(-1, 10**6), st.floats(-1, 1e13), st.just(10**400)),
    "budget_duration": st.one_of(st.none(), periods),
    "duration": st.one_of(st.none(), periods),
    "metadata": st.one_of(st.none(), st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(UNENFORCED)),
                                                     json_values, max_size=4)),
    "blocked": st.one_of(st.none(), st.booleans(), st.sampled_from((0, 1, "true"))),
}
_DEFAULT_VALUES = st.sampled_from((None, {}, [], 0, "", False, "default"))
_UNENFORCED_VALUES = st.one_of(_DEFAULT_VALUES, _DEFAULT_VALUES, _DEFAULT_VALUES, json_values)


def _field(name: str) -> st.SearchStrategy[tuple[str, Any]]:
    values = st.one_of(plausible[name], json_values) if name in plausible else _UNENFORCED_VALUES
    return st.tuples(st.just(name), values)


# A few fields per body (settings, unenforced LiteLLM fields, `key`, or anything else), each with a
# plausible value or any JSON value: cheap to draw, and every field gets its turn.
bodies = st.lists(
    st.one_of(st.sampled_from(SETTINGS).flatmap(_field), st.sampled_from(SETTINGS).flatmap(_field),
              st.sampled_from(UNENFORCED).flatmap(_field),
              st.tuples(st.one_of(st.just("key"), st.text(max_size=8)), json_values)),
    max_size=5,
).map(dict)
# Settings only, each with a plausible value: most are accepted, so the properties of accepted settings bite.
likely_valid = st.lists(st.sampled_from(SETTINGS).flatmap(lambda name: st.tuples(st.just(name), plausible[name])),
                        max_size=5).map(dict)


def outcome(parse: Callable[[], dict[str, Any]]) -> tuple[str, Any]:
    try:
        return "ok", parse()
    except Invalid as exc:
        return "invalid", exc.field


def _stored_and_rendered(settings: dict[str, Any]) -> None:
    """What /key/generate does with accepted settings: apply, store (asdict + JSON), answer (JSON)."""
    record = KeyRecord("0" * 64, "sk-...0000", created_ms=NOW, updated_ms=NOW, budget_anchor_ms=NOW)
    record = record.with_settings(settings, NOW)
    json.dumps(asdict(record), allow_nan=False)
    json.dumps(generate_response(record, "sk-" + "0" * 40, NOW), allow_nan=False)
    json.dumps(record.info(NOW + 10**12), allow_nan=False)


@quick(100)
@given(st.one_of(bodies, json_values))
def test_only_invalid_escapes_and_it_names_the_culprit(body: Any) -> None:
    try:
        parsed = parse_settings(require_object(body))
    except Invalid as exc:
        top = exc.field.removeprefix("metadata.")
        assert exc.field in (*SETTINGS, *UNENFORCED, "body") or (top in UNENFORCED and exc.field != top)
        if exc.field != "body":  # the named field is wrong on its own, whatever else came with it
            alone = "metadata" if exc.field != top else exc.field
            assert outcome(lambda: parse_settings({alone: body[alone]})) == ("invalid", exc.field)
        return
    assert set(parsed) <= set(SETTINGS)


@quick(80)
@given(st.one_of(bodies, likely_valid))
def test_verdict_survives_json_and_accepted_settings_are_strict_json(body: dict[str, Any]) -> None:
    first = outcome(lambda: parse_settings(body))
    again = outcome(lambda: parse_settings(json.loads(json.dumps(body))))
    assert first == again
    if first[0] == "ok":
        assert json.loads(json.dumps(first[1], allow_nan=False)) == first[1]


@quick(80)
@given(st.one_of(bodies, likely_valid))
def test_accepted_settings_revalidate_to_themselves(body: dict[str, Any]) -> None:
    verdict, parsed = outcome(lambda: parse_settings(body))
    if verdict == "ok":
        assert parse_settings(parsed) == parsed


@quick(80)
@given(st.one_of(bodies, likely_valid))
def test_accepted_settings_can_be_stored_and_rendered(body: dict[str, Any]) -> None:
    verdict, parsed = outcome(lambda: parse_settings(body))
    if verdict == "ok":
        _stored_and_rendered(parsed)


_TEXTS = ("key_alias", "user_id", "team_id")
_LIMITS = ("rpm_limit", "tpm_limit", "max_parallel_requests")


def _well_typed(name: str, value: Any) -> bool:
    """What a key record may hold for each setting (what stores, limits and answers rely on)."""
    if name in _TEXTS:
        return value is None or (type(value) is str and 0 < len(value) <= 256)
    if name == "models":
        return type(value) is list and all(type(m) is str and m for m in value) and len(set(value)) == len(value)
    if name in _LIMITS:
        return value is None or (type(value) is int and 0 <= value <= 10**12)
    if name in ("max_budget", "spend"):
        return (value is None and name == "max_budget") or (type(value) is float and math.isfinite(value)
                                                            and value >= 0)
    if name in ("duration", "budget_duration"):
        return value is None or (type(value) is str and value == value.strip() and value != "")
    if name == "metadata":
        return type(value) is dict
    return name == "blocked" and type(value) is bool


@quick(100)
@given(st.one_of(bodies, likely_valid))
def test_accepted_settings_are_well_typed(body: dict[str, Any]) -> None:
    verdict, parsed = outcome(lambda: parse_settings(body))
    if verdict == "ok":
        assert all(_well_typed(name, value) for name, value in parsed.items()), parsed


@quick(100)
@given(st.sampled_from(("duration", "budget_duration")), periods)
def test_accepted_periods_are_stored_stripped_with_the_same_meaning(name: str, text: str) -> None:
    verdict, parsed = outcome(lambda: parse_settings({name: text}))
    if verdict == "ok":
        assert parsed[name] == text.strip() and parse_period_ms(parsed[name]) == parse_period_ms(text)
    else:
        assert parsed == name


@quick(150)
@given(st.sampled_from(SETTINGS).flatmap(_field))
def test_each_setting_alone_is_well_typed_or_refused_by_name(field: tuple[str, Any]) -> None:
    name, value = field
    verdict, parsed = outcome(lambda: parse_settings({name: value}))
    if verdict == "ok":
        assert set(parsed) <= {name} and all(_well_typed(n, v) for n, v in parsed.items()), parsed
    else:  # metadata may also be refused for an unenforced name inside it
        assert parsed == name or (name == "metadata" and parsed.split(".")[0] == "metadata" and
                                  parsed.removeprefix("metadata.") in UNENFORCED)


def _strict_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        return False
    return True


# Not a default, and valid as metadata (finite numbers): the refusal then can only be about the name.
_NOT_DEFAULT = json_values.filter(lambda v: v not in (None, 0, "", [], {}) and v != "default" and _strict_json(v))


@quick(100)
@given(st.sampled_from(UNENFORCED), _NOT_DEFAULT, st.booleans(), st.fixed_dictionaries({}, optional={
    "key_alias": st.just("a"), "spend": st.sampled_from((0, None)), "models": st.just(["m"])}))
def test_unenforced_fields_are_refused_wherever_they_are(name: str, value: Any, in_metadata: bool,
                                                        others: dict[str, Any]) -> None:
    """An operator is never told a restriction holds that this gateway does not enforce."""
    body = {**others, "metadata": {name: value}} if in_metadata else {**others, name: value}
    assert outcome(lambda: parse_settings(body)) == ("invalid", f"metadata.{name}" if in_metadata else name)


def _with_stack_used(fraction: float, check: Callable[[], None]) -> None:
    """Runs `check` with that fraction of the recursion limit already used, as the real call path does."""
    def down(frames: int) -> None:
        check() if frames <= 0 else down(frames - 1)
    down(int(sys.getrecursionlimit() * fraction))


@pytest.mark.parametrize("as_list", [False, True])
def test_deeply_nested_metadata_is_refused_or_stored(as_list: bool) -> None:
    """A sweep, not a search: where recursion gives out depends on the caller's stack, which Hypothesis'
    replays vary. Before the bound, metadata ~490 deep passed validation, then broke `asdict` in store.save
    (a 500 after the directory row was written); ~990 deep broke validation itself with RecursionError."""
    for depth in (*range(0, 1101, 50), 992, 993, 994):
        body = {"metadata": {"m": nested(depth, as_list)}}
        try:
            verdict, parsed = outcome(lambda body=body: parse_settings(body))
            if verdict == "ok":
                _with_stack_used(0.75, lambda parsed=parsed: _stored_and_rendered(parsed))
        except RecursionError:  # one failure, wherever the recursion gave out (validation, asdict or json)
            raise AssertionError(f"metadata {depth} deep: RecursionError instead of Invalid") from None
        assert verdict == "ok" or parsed == "metadata", depth


# What LiteLLM clients send: pydantic defaults of GenerateKeyRequest / UpdateKeyRequest (litellm 1.108)
# and the `litellm-proxy keys generate` CLI body.
_GENERATE_DEFAULTS = {
    "key_alias": None, "duration": None, "models": [], "spend": 0.0, "max_budget": None, "user_id": None,
    "team_id": None, "agent_id": None, "max_parallel_requests": None, "metadata": {}, "tpm_limit": None,
    "rpm_limit": None, "budget_duration": None, "budget_limits": None, "allowed_cache_controls": [], "config": {},
    "permissions": {}, "model_max_budget": {}, "budget_fallbacks": None, "model_rpm_limit": None,
    "model_tpm_limit": None, "mcp_rpm_limit": None, "tag_rpm_limit": None, "guardrails": None, "policies": None,
    "prompts": None, "blocked": None, "aliases": {}, "object_permission": None, "key": None, "tpd_limit": None,
    "default_estimated_output_tokens": None, "default_estimated_output_tokens_per_model": None,
    "budget_id": None, "end_user_budget_id": None, "tags": None, "disable_global_guardrails": None,
    "enable_prompt_caching": None, "throttle_on_budget_exceeded": None, "enforced_params": None,
    "allowed_routes": [], "allowed_passthrough_routes": None, "denied_passthrough_routes": None,
    "allowed_vector_store_indexes": None, "rpm_limit_type": None, "tpm_limit_type": None, "router_settings": None,
    "access_group_ids": None, "soft_budget": None, "send_invite_email": None, "key_type": "default",
    "auto_rotate": False, "rotation_interval": None, "organization_id": None, "project_id": None,
}
_UPDATE_DEFAULTS = {**_GENERATE_DEFAULTS, "spend": None, "metadata": None, "temp_budget_increase": None,
                    "temp_budget_expiry": None, "auto_rotate": None, "key": "sk-x"}
_CLI_FIELDS = ("models", "aliases", "spend", "duration", "key_alias", "team_id", "user_id", "config")
valid_settings = st.fixed_dictionaries({}, optional={
    "key_alias": st.text(min_size=1, max_size=30), "models": st.lists(st.text(min_size=1, max_size=20), max_size=4),
    "rpm_limit": st.integers(0, 10**6), "tpm_limit": st.none(), "max_budget": st.floats(0, 1e6),
    "budget_duration": st.sampled_from(("30d", "1h", "daily", "2w")), "duration": st.sampled_from(("1h", "90d")),
    "metadata": st.dictionaries(st.text(max_size=8).filter(lambda k: k not in UNENFORCED), st.text(max_size=8),
                                max_size=3),
    "user_id": st.text(min_size=1, max_size=10), "blocked": st.booleans(),
})


@quick(100)
@given(st.sampled_from(("generate", "update", "cli")), valid_settings, st.sampled_from((0, 0.0, 1.5, None)))
def test_litellm_client_defaults_keep_working(shape: str, chosen: dict[str, Any], spend: float | None) -> None:
    if shape == "cli":  # `litellm-proxy keys generate` sends what it was given, `aliases`/`config` as {}
        base = {"spend": spend, "aliases": {}, "config": {}}
        body = {**base, **{k: v for k, v in chosen.items() if k in _CLI_FIELDS}}
    else:
        body = {**(_GENERATE_DEFAULTS if shape == "generate" else _UPDATE_DEFAULTS), "spend": spend, **chosen}
    parsed = parse_settings(body)  # never Invalid: defaults and unknown fields are not settings
    assert parsed == parse_settings({k: v for k, v in body.items() if k in SETTINGS})
    _stored_and_rendered(parsed)


@quick(150)
@given(st.one_of(json_values, st.text(max_size=80), st.text(min_size=20, max_size=40).map("sk-".__add__)))
def test_custom_keys_raise_only_invalid(value: Any) -> None:
    try:
        key = parse_custom_key(value)
    except Invalid as exc:
        assert exc.field == "key"
        return
    assert key.startswith("sk-") and key.isascii() and key.isprintable() and " " not in key


@pytest.mark.parametrize("name", ["max_budget", "spend"])
def test_a_budget_too_large_for_a_float_is_invalid(name: str) -> None:
    assert outcome(lambda: parse_settings({name: 10**400})) == ("invalid", name)  # json.loads("1" + "0" * 400)


@quick(50)
@given(st.sampled_from((math.nan, math.inf, -math.inf)), st.booleans())
def test_metadata_that_is_not_strict_json_is_refused(number: float, in_list: bool) -> None:
    metadata = {"x": [number] if in_list else number}
    assert outcome(lambda: parse_settings({"metadata": metadata})) == ("invalid", "metadata")
