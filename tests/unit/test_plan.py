"""edge.plan: what the edge decides from a request's headers before reading a byte or asking an object."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.plan import Body, Caller, Destination, caller_of, destination, framing
from keys.material import generate_key
from rules import errors

MASTER = "sk-master-key-123456"
SECRET = "mark-secret"
MARKED = generate_key(SECRET)


@pytest.mark.parametrize(("key", "keys_bound", "containers", "expected"), [
    (MASTER, False, True, Caller(MASTER, True)),  # the master key needs no key objects
    ("sk-some-virtual-key-1", True, True, Caller("sk-some-virtual-key-1", False)),
    (MARKED, True, True, Caller(MARKED, False)),
    (MARKED[:-1] + ("A" if MARKED[-1] != "A" else "B"), True, True, "invalid_api_key"),  # forged mark: no object asked
    ("sk-some-virtual-key-1", False, True, "invalid_api_key"),  # no key objects bound: only the master key works
    (None, True, True, "invalid_api_key"),
    (MASTER, True, False, "container_unbound"),  # who asks comes first, then where it would go
    (None, True, False, "invalid_api_key"),
])
def test_who_asks_is_decided_before_anything_else(key: str | None, keys_bound: bool, containers: bool,
                                                 expected: Caller | str) -> None:
    found = caller_of(key, MASTER, keys_bound, SECRET, containers)
    assert (found.code if isinstance(found, errors.GatewayError) else found) == expected


@pytest.mark.parametrize(("method", "length", "content_type", "has_body", "pin", "expected"), [
    ("GET", None, None, False, False, Body.NONE),
    ("POST", "0", "application/json", True, False, Body.NONE),
    ("POST", "12", "application/json", True, False, Body.JSON),
    ("POST", None, "application/json", True, False, Body.JSON),  # chunked: counted while read
    ("POST", "12", "multipart/form-data; boundary=x", True, False, Body.STREAM),
    ("POST", "12", "multipart/form-data; boundary=x", True, True, Body.UPLOAD),  # a model list: its head is read
    ("POST", "1001", "application/json", True, False, "request_too_large"),
    ("POST", "12x", "application/json", True, False, "invalid_content_length"),
    ("POST", "12", "text/plain", True, False, "unsupported_media_type"),
])
def test_framing(method: str, length: str | None, content_type: str | None, has_body: bool, pin: bool,
                 expected: Body | str) -> None:
    path = "/v1/audio/transcriptions" if content_type and "multipart" in content_type else "/v1/chat/completions"
    found = framing(method, path, length, content_type, has_body, 1000, pin)
    assert (found.code if isinstance(found, errors.GatewayError) else found.body) == expected
    if found == Body.JSON and length is not None:
        assert found.length == int(length)


@given(st.none() | st.text(max_size=30), st.none() | st.text(max_size=60), st.booleans(), st.booleans())
def test_framing_never_fails_and_never_lets_an_oversized_body_through(length: str | None, content_type: str | None,
                                                                    has_body: bool, pin: bool) -> None:
    found = framing("POST", "/v1/chat/completions", length, content_type, has_body, 1000, pin)
    if isinstance(found, errors.GatewayError):
        assert found.status in (400, 413, 415)
    elif found.length is not None:
        assert 0 < found.length <= 1000


def test_only_a_request_that_can_go_twice_and_names_no_affinity_may_be_served_by_a_sibling() -> None:
    assert destination(3, None, True).warm_first
    assert not destination(3, None, False).warm_first  # a streamed upload goes once
    assert not destination(3, "session-1", True).warm_first
    assert destination(1, None, True) == Destination("litellm-0", False)
    assert destination(5, "session-1", True).instance == destination(5, "session-1", True).instance  # sticky
