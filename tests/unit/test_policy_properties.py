"""Properties of the edge request policy and the key mark (Hypothesis): never raises, stable verdicts, a refused
parameter refused wherever it sits, the same bytes forwarded unless a cap applies, marks unforgeable."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.request_policy import RETRY_PARAMS, TIMEOUT_PARAMS, Caps, Verdict, is_denied, judge, rewritten
from keys.material import MARKED_KEY_LENGTH, MARKED_PREFIX, Mark, generate_key, mark_of
from rules import errors
from rules.json_scan import MAX_DEPTH

CAPS = Caps(max_num_retries=2, max_seconds=600)
SETTINGS = settings(max_examples=150, deadline=None)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**12), 10**12),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=20)
# Names a client sends: provider parameters, LiteLLM's own, and the capped ones.
names = st.one_of(st.text(min_size=1, max_size=12), st.sampled_from([
    "messages", "temperature", "tools", "api_base", "custom_llm_provider", "mock_response", "extra_headers",
    "litellm_params", "aws_region_name", "stream", "stream_options", "metadata", *RETRY_PARAMS, *TIMEOUT_PARAMS]))
bodies = st.dictionaries(names, values, max_size=8).map(lambda body: {"model": "gpt-4o", **body})
dumps_options = st.sampled_from([{}, {"separators": (",", ":")}, {"indent": 2}, {"ensure_ascii": False}])


def verdict_of(body: dict[str, Any], options: dict[str, Any]) -> Verdict | errors.GatewayError:
    return judge(json.dumps(body, **options).encode(), CAPS, ask_usage=True)


def summary(verdict: Verdict | errors.GatewayError) -> tuple[Any, ...]:
    if isinstance(verdict, errors.GatewayError):
        return ("refused", verdict.status, verdict.code, verdict.param)
    return ("accepted", verdict.model, verdict.stream, verdict.changes, verdict.added_usage)


@SETTINGS
@given(st.binary(max_size=400))
def test_any_bytes_get_a_verdict_never_an_exception(raw: bytes) -> None:
    verdict = judge(raw, CAPS, ask_usage=True)
    assert isinstance(verdict, Verdict | errors.GatewayError)
    if isinstance(verdict, errors.GatewayError):
        assert verdict.status == 400 and verdict.code in ("invalid_body", "param_not_allowed", "param_invalid")


@SETTINGS
@given(bodies, dumps_options, dumps_options)
def test_the_verdict_is_stable_under_reserialisation(body: dict[str, Any], first: dict[str, Any],
                                                       second: dict[str, Any]) -> None:
    assert summary(verdict_of(body, first)) == summary(verdict_of(body, second))


@SETTINGS
@given(bodies, st.sampled_from(["custom_llm_provider", "api_base", "mock_response", "extra_headers",
                                "litellm_params", "aws_secret_access_key", "vertex_credentials", "user_config"]),
       values, st.integers(0, 8), dumps_options)
def test_a_refused_parameter_is_refused_at_any_position(body: dict[str, Any], name: str, value: Any, at: int,
                                                         options: dict[str, Any]) -> None:
    items = [(key, item) for key, item in body.items() if key != name]
    items.insert(min(at, len(items)), (name, value))
    verdict = verdict_of(dict(items), options)
    assert isinstance(verdict, errors.GatewayError) and verdict.code in ("param_not_allowed", "param_invalid")
    nested = verdict_of({**{k: v for k, v in body.items() if not is_denied(k) and k != "metadata"},
                         "metadata": {name: value}}, options)
    assert isinstance(nested, errors.GatewayError), "the same one level down in metadata"


@SETTINGS
@given(bodies, dumps_options)
def test_accepted_bodies_go_on_as_the_same_bytes_unless_a_member_changed(body: dict[str, Any],
                                                                         options: dict[str, Any]) -> None:
    raw = json.dumps(body, **options).encode()
    verdict = judge(raw, CAPS, ask_usage=True)
    if not isinstance(verdict, Verdict):
        return
    out = rewritten(raw, verdict)
    if not verdict.changes:
        assert out is None
        return
    assert out is not None
    forwarded = json.loads(out)
    assert forwarded == {**body, **verdict.changes}  # only the changed members differ
    for name in verdict.capped:
        assert forwarded[name] <= (CAPS.max_num_retries if name in RETRY_PARAMS else CAPS.max_seconds)


@SETTINGS
@given(st.integers(MAX_DEPTH + 1, 5_000), st.sampled_from(["[", '{"a":']))
def test_nesting_past_the_bound_is_refused_at_any_depth(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    raw = ('{"model":"m","x":' + opener * depth + ("1" if opener != "[" else "") + closer * depth + "}").encode()
    verdict = judge(raw, CAPS)
    assert isinstance(verdict, errors.GatewayError) and verdict.code == "invalid_body"


@SETTINGS
@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40),
       st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=16, max_size=16),
       st.text(max_size=80))
def test_a_mark_holds_only_under_its_own_secret(secret: str, other: str, mark: str, guess: str) -> None:
    key = generate_key(secret)
    assert key.startswith(MARKED_PREFIX) and len(key) == MARKED_KEY_LENGTH
    assert mark_of(key, secret) is Mark.VALID
    assert mark_of(key, other) is (Mark.VALID if other == secret else Mark.FORGED)
    tampered = key[:-16] + mark
    assert mark_of(tampered, secret) is (Mark.VALID if tampered == key else Mark.FORGED)
    expected = Mark.NONE if not guess.startswith(MARKED_PREFIX) else Mark.FORGED
    assert mark_of(guess, secret) is expected
