"""Credential headers: total, first header present decides, scheme case-insensitive, comparisons strict."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prop_strategies import quick

from rules.auth import key_matches, presented_key

headers = st.one_of(st.none(), st.text(max_size=30),
                    st.sampled_from(("Bearer", "Bearer ", "bearer sk-1", "Basic sk-1", "Bearer a b", " ", "")))
tokens = st.text(min_size=1, max_size=30).filter(lambda s: s.split() == [s])  # one word, no whitespace at all
schemes = st.lists(st.booleans(), min_size=6, max_size=6).map(
    lambda flips: "".join(c.upper() if f else c for c, f in zip("bearer", flips, strict=True)))
spaces = st.text(" ", min_size=1, max_size=3)


@quick(180)
@given(headers, headers, headers)
def test_presented_key_is_total_and_one_clean_word(authorization: str | None, x_api_key: str | None,
                                                  api_key: str | None) -> None:
    key = presented_key(authorization, x_api_key, api_key)
    assert key is None or (key and key == key.strip() and " " not in key)


@quick(180)
@given(headers, headers, headers)
def test_first_header_present_decides_alone(authorization: str | None, x_api_key: str | None,
                                            api_key: str | None) -> None:
    """A malformed first header is never rescued by another: the others are not even looked at."""
    if authorization is not None:
        assert presented_key(authorization, x_api_key, api_key) == presented_key(authorization, None, None)
    elif x_api_key is not None:
        assert presented_key(None, x_api_key, api_key) == presented_key(None, x_api_key, None)


@quick(100)
@given(schemes, spaces, tokens, st.text(" \t", max_size=2), headers, headers)
def test_bearer_scheme_is_case_insensitive(scheme: str, gap: str, token: str, padding: str,
                                           x_api_key: str | None, api_key: str | None) -> None:
    assert presented_key(padding + scheme + gap + token + padding, x_api_key, api_key) == token


@quick(100)
@given(st.text(max_size=10), tokens)
def test_only_the_bearer_scheme_is_accepted(scheme: str, token: str) -> None:
    if scheme.lower() != "bearer":
        assert presented_key(f"{scheme} {token}", token, token) is None


@quick(100)
@given(tokens, st.text(" ", max_size=2))
def test_each_header_carries_a_plain_key_alike(token: str, padding: str) -> None:
    value = padding + token + padding
    assert presented_key(None, value) == token
    assert presented_key(None, None, value) == token
    assert presented_key("Bearer " + value, None) == token


@quick(100)
@given(st.text(max_size=12))
def test_the_same_value_means_the_same_key_in_any_header(value: str) -> None:
    assert presented_key(None, value) == presented_key(None, None, value) == presented_key("Bearer " + value, None)


@quick(150)
@given(st.one_of(st.none(), st.text(max_size=20)), st.text(max_size=20))
def test_key_matches_is_exact_equality_of_non_empty_keys(presented: str | None, expected: str) -> None:
    assert key_matches(presented, expected) == (presented is not None and expected != "" and presented == expected)
    assert key_matches(None, expected) is False
    assert key_matches(presented, "") is False
    if presented:
        assert key_matches(presented, presented)
        assert key_matches(presented, expected) == key_matches(expected, presented)
