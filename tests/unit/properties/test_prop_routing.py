"""Routing and path normalisation: total, stable, and nothing outside the allow-list ever reaches LiteLLM."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from prop_strategies import (
    AZURE_OPERATIONS,
    POISON_CHARS,
    POISON_SEGMENTS,
    any_paths,
    api_paths,
    forwardable_paths,
    methods,
    quick,
)

from rules.errors import Dialect
from rules.routing import (
    AZURE_METHODS,
    FORWARDED_API_PATHS,
    FORWARDED_METHODS,
    Route,
    classify,
    dialect_for,
    is_azure_path,
    is_forwarded_path,
    model_in_path,
    upstream_path,
)

# Oracles written independently of the module: fullmatch, so nothing hides after a final newline.
_SEGMENT = re.compile(r"[A-Za-z0-9._~:@!$&'()*+,;=-]+")
_AZURE_UPSTREAM = re.compile(r"/openai/deployments/([^/]+)/(?:" + "|".join(AZURE_OPERATIONS) + ")")


def _plain_segments(path: str) -> bool:
    parts = path[1:].split("/")
    return path.startswith("/") and all(_SEGMENT.fullmatch(p) and p not in (".", "..") for p in parts)


def _allow_listed(upstream: str) -> bool:
    """LiteLLM is asked only for /v1 + an allow-listed API path (or below it), or an Azure operation."""
    if not _plain_segments(upstream):
        return False
    if _AZURE_UPSTREAM.fullmatch(upstream):
        return True
    below_v1 = upstream.removeprefix("/v1")
    return upstream.startswith("/v1/") and any(
        below_v1 == api or below_v1.startswith(api + "/") for api in FORWARDED_API_PATHS)


@quick(160)
@given(methods, any_paths)
def test_routing_is_total(method: str, path: str) -> None:
    assert isinstance(classify(method, path), Route)
    assert isinstance(dialect_for(path), Dialect)
    assert isinstance(upstream_path(path), str)
    model = model_in_path(path)
    assert model is None or isinstance(model, str)


@quick(160)
@given(methods, st.one_of(any_paths, forwardable_paths))
def test_whatever_is_forwarded_maps_to_an_allow_listed_litellm_path(method: str, path: str) -> None:
    route = classify(method, path)
    if is_forwarded_path(path):  # whatever the method: forwarded-ness is the path's alone
        assert _allow_listed(upstream_path(path)), upstream_path(path)
    if route in (Route.FORWARD, Route.PREFLIGHT):
        assert is_forwarded_path(path)
    if not is_forwarded_path(path):
        assert route in (Route.NOT_FOUND, Route.ROOT, Route.HEALTH, Route.METHOD_NOT_ALLOWED)
        assert route is Route.NOT_FOUND or path in ("/", "/health")


@quick(100)
@given(methods, forwardable_paths)
def test_upstream_path_is_one_stable_form(method: str, path: str) -> None:
    """Asking again with the upstream form changes nothing: route, dialect, model, and the form itself."""
    upstream = upstream_path(path)
    assert not upstream.endswith("/")  # LiteLLM would redirect a trailing slash to its own origin
    assert upstream_path(upstream) == upstream
    assert classify(method, upstream) is classify(method, path)
    assert dialect_for(upstream) is dialect_for(path)
    assert model_in_path(upstream) == model_in_path(path)


@quick(100)
@given(methods, api_paths, st.sampled_from(("", "/")))
def test_v1_prefix_and_trailing_slash_do_not_matter(method: str, api_path: str, slash: str) -> None:
    spellings = [api_path, api_path + slash, "/v1" + api_path, "/v1" + api_path + slash]
    assert len({classify(method, s) for s in spellings}) == 1
    assert {upstream_path(s) for s in spellings} == {"/v1" + api_path}
    assert len({dialect_for(s) for s in spellings}) == 1


@quick(130)
@given(methods, forwardable_paths, st.sampled_from(POISON_CHARS), st.integers(min_value=0), st.data())
def test_escaped_dotted_or_odd_paths_are_never_forwarded(method: str, path: str, poison: str, at: int,
                                                         data: st.DataObject) -> None:
    """Any percent-escape, backslash, control, space or non-ASCII character (anywhere, the very end included),
    and any `.`, `..` or empty segment makes a path unknown: no spelling smuggles a path past the allow-list."""
    index = len(path) if at < 0 else at % len(path) + 1  # after the leading slash, up to the very end
    char_poisoned = path[:index] + poison + path[index:]
    slashes = [i for i, c in enumerate(path) if c == "/"]
    slash = data.draw(st.sampled_from(slashes))
    segment_poisoned = path[:slash] + data.draw(st.sampled_from(POISON_SEGMENTS)) + path[slash + 1:]
    for poisoned in (char_poisoned, segment_poisoned, *(path + char for char in POISON_CHARS)):
        assert classify(method, poisoned) is Route.NOT_FOUND, poisoned
        assert model_in_path(poisoned) is None
        assert dialect_for(poisoned) is Dialect.OPENAI


@quick(130)
@given(methods, st.one_of(any_paths, forwardable_paths))
def test_methods_are_judged_by_their_ascii_upper_case(method: str, path: str) -> None:
    route = classify(method, path)
    if method.isascii():
        assert classify(method.upper(), path) is route
        assert classify(method.lower(), path) is route
    if route is Route.FORWARD:
        allowed = AZURE_METHODS if is_azure_path(path) else FORWARDED_METHODS
        # What entry.py compares the method with afterwards is its ASCII upper case: a look-alike
        # (e.g. "po\u017ft".upper() == "POST") must not be forwarded as something it was not judged as.
        assert method.isascii() and method.upper() in allowed
    if route is Route.PREFLIGHT:
        assert method.upper() == "OPTIONS"
    if route in (Route.ROOT, Route.HEALTH):
        assert path in ("/", "/health") and method.upper() in ("GET", "HEAD")


@quick(100)
@given(methods, forwardable_paths)
def test_each_route_kind_forwards_exactly_its_methods(method: str, path: str) -> None:
    """Spelled out, not the module's constants: Azure deployments take POST; API paths GET, HEAD, POST, DELETE."""
    upper = method.upper() if method.isascii() else None
    allowed = {"POST"} if path.startswith("/openai/") else {"GET", "HEAD", "POST", "DELETE"}
    expected = (Route.PREFLIGHT if upper == "OPTIONS" else Route.FORWARD if upper in allowed
                else Route.METHOD_NOT_ALLOWED)
    assert classify(method, path) is expected


@quick(100)
@given(st.one_of(any_paths, forwardable_paths))
def test_model_in_path_names_exactly_the_azure_deployment(path: str) -> None:
    model = model_in_path(path)
    assert (model is not None) == is_azure_path(path)
    if model is not None:
        assert _SEGMENT.fullmatch(model) and model not in (".", "..")
        match = _AZURE_UPSTREAM.fullmatch(upstream_path(path))
        assert match is not None and match.group(1) == model
        assert classify("POST", path) is Route.FORWARD


@quick(100)
@given(st.one_of(any_paths, forwardable_paths))
def test_anthropic_dialect_exactly_for_the_messages_api(path: str) -> None:
    upstream = upstream_path(path)
    messages = is_forwarded_path(path) and (upstream == "/v1/messages" or upstream.startswith("/v1/messages/"))
    assert (dialect_for(path) is Dialect.ANTHROPIC) == messages
