"""Media types: parameters and case never change a verdict; each forwarded endpoint takes exactly one kind."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st
from prop_strategies import any_paths, api_paths, forwardable_paths, methods, quick

from rules.content_types import body_type_accepted, is_json, media_type
from rules.routing import is_forwarded_path, upstream_path

KNOWN = ("application/json", "application/vnd.api+json", "application/problem+json", "multipart/form-data",
         "text/plain", "application/x-www-form-urlencoded", "application/jsonx", "text/json", "application/+json",
         "application/json+xml", "")
ascii_types = st.one_of(st.sampled_from(KNOWN), st.text(string.ascii_letters + "/+-.", max_size=25))
parameters = st.text(string.printable, max_size=30).map(lambda p: ";" + p)
content_types = st.one_of(st.none(), st.text(max_size=30), ascii_types,
                          st.builds(str.__add__, ascii_types, parameters))


def _random_case(text: str, flips: list[bool]) -> str:
    return "".join(c.upper() if f else c.lower() for c, f in zip(text, flips + [False] * len(text), strict=False))


@quick(120)
@given(methods, any_paths, content_types, st.booleans())
def test_media_type_checks_never_raise(method: str, path: str, content_type: str | None, has_body: bool) -> None:
    kind = media_type(content_type)
    assert kind == kind.strip() and ";" not in kind
    assert media_type(kind) == kind
    assert isinstance(is_json(content_type), bool)
    assert isinstance(body_type_accepted(method, path, content_type, has_body), bool)


@quick(150)
@given(ascii_types, parameters, st.lists(st.booleans(), max_size=30), st.sampled_from(("", " ", "  ")))
def test_parameters_case_and_spacing_do_not_matter(kind: str, params: str, flips: list[bool], pad: str) -> None:
    spelled = pad + _random_case(kind, flips) + pad + params
    assert media_type(spelled) == media_type(kind)
    assert is_json(spelled) == is_json(kind)


@quick(150)
@given(content_types)
def test_json_is_application_json_or_a_json_suffix(content_type: str | None) -> None:
    kind = media_type(content_type)
    top, _, sub = kind.partition("/")
    assert is_json(content_type) == (kind == "application/json" or (top == "application" and sub.endswith("+json")))


_JSON_KINDS = {"application/json", "application/vnd.api+json", "application/problem+json", "application/+json"}


@quick(80)
@given(api_paths, st.sampled_from(("", "/v1")), st.sampled_from(("", "/")))
def test_only_transcriptions_take_multipart(api_path: str, prefix: str, slash: str) -> None:
    """Spelled out: multipart for /v1/audio/transcriptions (and below), JSON kinds for every other endpoint."""
    target = upstream_path(prefix + api_path + slash)
    multipart = api_path == "/audio/transcriptions" or api_path.startswith("/audio/transcriptions/")
    for kind in KNOWN:
        expected = kind == "multipart/form-data" if multipart else kind in _JSON_KINDS
        assert body_type_accepted("POST", target, kind + "; charset=utf-8", True) == expected, (target, kind)


@quick(120)
@given(st.one_of(st.sampled_from(("POST", "post")), methods), forwardable_paths,
       st.one_of(ascii_types, content_types), st.one_of(st.just(True), st.booleans()))
def test_each_forwarded_endpoint_takes_one_body_kind(method: str, path: str, content_type: str | None,
                                                    has_body: bool) -> None:
    target = upstream_path(path)  # what entry.py asks about
    accepted = body_type_accepted(method, target, content_type, has_body)
    if method.upper() != "POST" or not has_body:
        assert accepted
    elif target == "/v1/audio/transcriptions" or target.startswith("/v1/audio/transcriptions/"):
        assert accepted == (media_type(content_type) == "multipart/form-data")
    else:
        assert is_forwarded_path(path) and accepted == is_json(content_type)
