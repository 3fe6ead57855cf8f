"""json_scan against LiteLLM's own body parsing (`read_request_body`: orjson, then json.loads with surrogate
handling): whatever body the edge accepts, LiteLLM reads the same member names and the same values."""

from __future__ import annotations

import asyncio
import json
import logging
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_json_scan import (
    RAW_VALUES,
    SETTINGS,
    canon,
    duplicate_bodies,
    hostile_bodies,
    mutated_bodies,
    objects,
    surrogate_bodies,
    valid_bodies,
)

from rules import json_scan
from tests.unit.asgi_request import one_body

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # read at import: no price-map download
http_parsing = pytest.importorskip("litellm.proxy.common_utils.http_parsing_utils")
requests = pytest.importorskip("starlette.requests")
ProxyException = pytest.importorskip("litellm.proxy._types").ProxyException


@pytest.fixture(autouse=True, scope="module")
def _quiet_litellm():
    logger = logging.getLogger("LiteLLM Proxy")
    level, logger.level = logger.level, logging.CRITICAL + 1  # it logs every refusal with a traceback
    yield
    logger.setLevel(level)


def litellm_reads(raw: bytes) -> object:
    """What LiteLLM's proxy makes of a JSON request body: its parsed body, or the exception it answers with."""
    receive = one_body(raw)
    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "root_path": "", "query_string": b"",
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]}
    try:
        return asyncio.run(http_parsing.read_request_body(requests.Request(scope, receive)))
    except ProxyException as refusal:
        return refusal


def edge_reads(raw: bytes, located: bool) -> tuple[list[str], dict] | None:
    """Names and every top-level value, as the edge would decode them (None: refused)."""
    try:
        names = json_scan.scan(raw, located=located).names
        shape = json_scan.scan(raw, frozenset(names), located=located)
    except json_scan.JsonRefused:  # the module's own: the mutant below is a copy
        return None
    return shape.names, {name: canon(value) for name, value in shape.values.items()}


def check_same_reading(raw: bytes) -> None:
    edge = edge_reads(raw, located=False)
    assert edge_reads(raw, located=True) == edge
    if edge is None:
        return
    body = litellm_reads(raw)
    assert isinstance(body, dict), f"the edge accepted {raw[:200]!r}; LiteLLM read {body!r:.200}"
    assert list(body) == edge[0]
    assert {name: canon(value) for name, value in body.items()} == edge[1]


@settings(SETTINGS, max_examples=120)
@given(valid_bodies | hostile_bodies | hostile_bodies | duplicate_bodies | surrogate_bodies | mutated_bodies)
def test_litellm_reads_what_the_edge_judged(raw: bytes) -> None:
    check_same_reading(raw)


@settings(SETTINGS, max_examples=60)
@given(objects, st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"]))
def test_bodies_not_in_utf8_are_refused(obj: dict, codec: str) -> None:
    raw = json.dumps(obj, ensure_ascii=False).encode(codec)
    assert edge_reads(raw, located=False) is None and edge_reads(raw, located=True) is None
    check_same_reading(raw)


HOSTILE = [
    b'{"model":"a","model":"b"}', b'{"model":"a","mod\\u0065l":"b"}', b'{"a":{"b":1,"b":2,"c":3}}',
    b'{"timeout":NaN}', b'{"timeout":Infinity}', b'{"timeout":-Infinity}', b'{"a":[NaN]}',
    b'{"model":"\\ud800"}', b'{"a":["\\udc00x"]}', b'{"\\ud800":1}', b'{"a":{"\\udfff":1}}', b'{"m":"\xed\xa0\x80"}',
    b'{"a":"\\ud83d\\ude00"}', b'{"a":"\\ude00\\ud83d"}', b'{"timeout":1e400}', b'{"timeout":-1e400}',
    b'{"a":0.' + b"1" * 100 + b"}", b'{"a":1e-' + b"9" * 100 + b"}",
    b'{"a":18446744073709551615}', b'{"a":-9223372036854775808}', b'\xef\xbb\xbf{"a":1}', b'\xff\xfe{\x00}\x00',
    b'{"a":1}\x00', b'{"a":1} {"b":2}', b'{"a":1,}', b"{'a':1}", b'{"a":01}', b'{"a":"\t"}', b'{"a":"\\u0000"}',
    b'\x0c{"a":1}', b'{"a":1}\xc2\xa0', b'{"a"\xc2\xa0:1}',
    *[b'{"a":' + value + b"}" for value in RAW_VALUES],
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_hostile_shapes_are_refused_or_read_alike(raw: bytes) -> None:
    check_same_reading(raw)


@pytest.mark.parametrize("raw", [b'{"a":NaN}', b'{"a":"\\ud800"}', b'{"a":1,"a":2}', b'\xef\xbb\xbf{}',
                                 b'{"a":{"\\ud800":1}}'])
def test_what_litellm_would_read_differently_is_refused(raw: bytes) -> None:
    assert edge_reads(raw, located=False) is None and edge_reads(raw, located=True) is None


@pytest.mark.parametrize("raw", [b'{"max_tokens":18446744073709551616}', b'{"num_retries":-9223372036854775809}',
                                 b'{"a":[1,{"b":100000000000000000000001}]}', b'{"a":1' + b"0" * 99 + b"}"])
def test_huge_integers_are_refused_or_read_alike(raw: bytes) -> None:
    check_same_reading(raw)
