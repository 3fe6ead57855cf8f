"""json_scan: sharp examples, hostile bodies (refused, with the right reason, fast) and the bugs found."""

from __future__ import annotations

import contextlib
import inspect
import json
import sys
import time
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_json_scan import DEPTH, SETTINGS, canon, deep_objects, depth, dumps_options, outcome, split, values

from rules import json_scan
from rules.json_scan import MAX_ITEMS, MAX_MEMBER_BYTES, JsonRefused, Scanner, first_value, loads, scan

FAST = 2.0  # seconds any one hostile body may cost on CPython (each takes well under 1 s)


def timed(fn, *args):
    start = time.perf_counter()
    try:
        result: object = fn(*args)
    except JsonRefused as refusal:
        result = refusal
    elapsed = time.perf_counter() - start
    print(f"{getattr(fn, '__name__', fn)}: {elapsed:.3f}s -> {result!r:.80}")
    assert elapsed < FAST
    return result


def fed(raw: bytes, size: int = 65_536, wanted: frozenset[str] = frozenset()) -> tuple[object, int]:
    """The Scanner's result over `size`-byte chunks, and how many bytes it read before deciding."""
    scanner, read = Scanner(wanted), 0
    try:
        for at in range(0, len(raw), size):
            read += len(raw[at:at + size])
            scanner.feed(raw[at:at + size])
        return scanner.close(), read
    except JsonRefused as refusal:
        return refusal, read


def refused(result: object, reason: str) -> JsonRefused:
    assert isinstance(result, JsonRefused), result
    assert reason in result.reason
    return result


@pytest.mark.parametrize("raw", [b'{"a":' * 10**6 + b"1" + b"}" * 10**6,
                                 b'{"a":' + b"[" * 10**6 + b"]" * 10**6 + b"}"], ids=["object", "array"])
def test_nesting_a_million_deep_is_refused_at_once(raw: bytes) -> None:
    refused(timed(scan, raw), f"nested deeper than {DEPTH} levels")
    result, read = timed(fed, raw)
    refused(result, f"nested deeper than {DEPTH} levels")
    assert read == 65_536  # decided within the first chunk


def test_a_million_and_a_quarter_objects_stop_at_max_items() -> None:
    raw = b'{"messages":[' + b",".join([b'{"a":1}'] * 1_250_000) + b"]}"
    result, read = timed(fed, raw)
    refused(result, f"more than {MAX_ITEMS} objects")
    assert read < 8 * MAX_ITEMS // 2 + 65_536  # each {"a":1} is two items: it stopped after ~50,000


def test_a_ten_megabyte_string_is_accepted_and_a_wanted_one_refused() -> None:
    raw = b'{"model":"m","messages":"' + b"x" * 10_000_000 + b'"}'
    assert timed(scan, raw, frozenset({"model"})).values == {"model": "m"}  # type: ignore[union-attr]
    shape, _ = timed(fed, raw, 65_536, frozenset({"model"}))
    assert shape.names == ["model", "messages"]  # type: ignore[union-attr]
    assert refused(timed(scan, raw, frozenset({"messages"})), "over").member == "messages"


def test_a_number_of_a_hundred_thousand_digits_is_refused() -> None:
    for raw in (b'{"max_tokens":' + b"9" * 10**5 + b"}", b'{"a":[1,' + b"9" * 10**5 + b"]}",
                b'{"a":1.' + b"9" * 10**5 + b"}", b'{"a":1e' + b"9" * 10**5 + b"}"):
        refused(timed(scan, raw), "not valid JSON")
        assert isinstance(timed(scan, raw, frozenset({"max_tokens", "a"})), JsonRefused)  # decoded: any reason
        result, read = timed(fed, raw, 1)
        refused(result, "not valid JSON")
        assert read < 700  # a number cut by the chunk's end is carried at most 512 bytes


def test_a_ten_kilobyte_member_name_is_refused_by_the_scanner() -> None:
    raw = b'{"' + b"n" * 10_240 + b'":1}'
    refused(timed(scan, raw, frozenset(), True), "member name is over 1024 bytes")
    refused(timed(fed, raw, 100)[0], "member name is over 1024 bytes")


@pytest.mark.parametrize(("chunks", "accepted"), [
    ([b'{"a":"\xe2\x82', b'\xac"}'], True), ([b'{"a":"\xe2\x82', b'"}'], False), ([b'{"a":"x\xe2'], False),
    ([b'{"\xf0\x9f', b'\x98\x80":1}'], True), ([b'{"a":"\xed', b'\xa0\x80"}'], False), ([b'{"a":1}\xc3'], False),
])
def test_utf8_is_checked_across_chunk_boundaries(chunks: list[bytes], accepted: bool) -> None:
    got = outcome(json_scan, b"".join(chunks), frozenset({"a"}), chunks)
    assert (got is not None) == accepted
    if accepted:
        assert got == outcome(json_scan, b"".join(chunks), frozenset({"a"}), [b"".join(chunks)])
    for pieces in (chunks, [b"".join(chunks)]):
        scanner = Scanner(frozenset({"a"}))
        with pytest.raises(JsonRefused, match=r"UTF-8|follows") if not accepted else contextlib.nullcontext():
            for piece in pieces:
                scanner.feed(piece)
            scanner.close()


@pytest.mark.parametrize("size", [MAX_MEMBER_BYTES + 1, 10 * MAX_MEMBER_BYTES])
def test_a_wanted_member_over_the_limit_is_refused_naming_it(size: int) -> None:
    value = b'{"x":"' + b"y" * (size - 8) + b'"}'
    raw = b'{"model":"m","metadata":' + value + b',"stream":true}'
    for size in (len(raw), 30, 4096):
        got = timed(fed, raw, size, frozenset({"metadata"}))[0]
        assert refused(got, f"over {MAX_MEMBER_BYTES} bytes").member == "metadata"
    for located in (False, True):
        assert refused(timed(scan, raw, frozenset({"metadata"}), located), "over").member == "metadata"
    exact = b'{"metadata":' + b'{"x":"' + b"y" * (MAX_MEMBER_BYTES - 8) + b'"}' + b"}"
    assert scan(exact, frozenset({"metadata"}), located=True).spans["metadata"] == (12, 12 + MAX_MEMBER_BYTES)


# -- sharp examples ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "reason"), [
    (b"", "it is empty"), (b" \n", "it is empty"), (b"[]", "got a JSON array"), (b'"x"', "got a JSON string"),
    (b"1", "got a JSON number"), (b"null", "got a JSON null"), (b"{} {}", "something follows"),
    (b'{"a":1,"a":2}', "appears twice"), (b'{"model":1,"mod\\u0065l":2}', "appears twice"),
    (b'{"a":NaN}', "not valid JSON"), (b'{"a":"\\ud800"}', "unpaired surrogate"),
    (b'\xef\xbb\xbf{"a":1}', "not valid JSON"), ('{"a":1}'.encode("utf-16"), "UTF-8"),
    (b'{"a":"\xed\xa0\x80"}', "UTF-8"), (b'{"a":"\x1f"}', "control character"),
])
@pytest.mark.parametrize("located", [False, True])
def test_refusals(raw: bytes, reason: str, located: bool) -> None:
    with pytest.raises(JsonRefused, match=reason if located else None):  # the small-body path words some apart
        scan(raw, frozenset({"a"}), located=located)


@pytest.mark.parametrize(("raw", "accepted"), [
    (b'{"a":' + b"[" * 31 + b"]" * 31 + b"}", True), (b'{"a":' + b"[" * 32 + b"]" * 32 + b"}", False),
    (b'{"a":1' + b"0" * 99 + b"}", True), (b'{"a":1' + b"0" * 100 + b"}", False),
    (b'{"a":1.' + b"0" * 100 + b"e-" + b"9" * 100 + b"}", True), (b'{"a":0.' + b"0" * 101 + b"}", False),
    (b'{"' + b"n" * 1024 + b'":1, "b": [' + b"[]," * 40 + b"[]]}", True),
    (b'{"' + b"n" * 1025 + b'":1, "b": [' + b"[]," * 40 + b"[]]}", False),
])
def test_limits_are_exact(raw: bytes, accepted: bool) -> None:
    assert (outcome(json_scan, raw, frozenset({"b"})) is not None) == accepted  # "a" undecoded: only the limit
    assert (outcome(json_scan, raw, frozenset({"b"}), split(raw, [7, 100, 1000])) is not None) == accepted


def test_the_item_limit_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_scan, "MAX_ITEMS", 60)  # the real one: test_a_million_and_a_quarter_objects...
    raw = b'{"b":[' + b'"",' * 54 + b'""],"c":{}}'  # 60: the object, "b", the array, 55 strings, "c" and {}
    assert scan(raw, frozenset({"a"}), located=True).names == ["b", "c"]
    for size in (len(raw), 1, 7):
        refused(fed(raw.replace(b"{}", b'{"":0}'), size)[0], "more than 60 objects")


def test_a_cut_escape_and_number_carry_over() -> None:
    raw = b'{"a":"\\u00e9\\ud83d\\ude00","b":[1.5e+10,true,-0],"c":123456}'
    for size in range(1, 12):
        assert outcome(json_scan, raw, frozenset("abc"), [raw[i:i + size] for i in range(0, len(raw), size)]) \
            == outcome(json_scan, raw, frozenset("abc"), [raw])
    assert scan(raw, frozenset("a")).values == {"a": "é\U0001f600"}


def test_loads_refuses_deep_nesting_without_recursion() -> None:
    text = "[" * 100_000 + "]" * 100_000
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 60)  # a recursive parser would blow this
    try:
        for arg in (text, text.encode(), '{"a":' * 100_000 + "1" + "}" * 100_000):
            with pytest.raises(JsonRefused, match=f"nested deeper than {DEPTH}"):
                loads(arg)
    finally:
        sys.setrecursionlimit(limit)


# -- bugs found by these tests, fixed in json_scan -------------------------------------------------------


def test_fast_path_refuses_a_long_member_name_like_the_scanner() -> None:
    raw = b'{"' + b"n" * 1025 + b'":1}'
    with pytest.raises(JsonRefused, match="member name is over"):
        scan(raw)


def test_loads_judges_the_same_json_alike_whatever_its_bracket_count() -> None:
    brackets = "[" * 20 + "]" * 20
    for few, many in (('{"a":1,"a":2}', f'{{"a":1,"a":2,"b":{brackets},"c":{brackets}}}'),
                      ("[NaN]", f"[NaN,{brackets},{brackets}]")):
        verdicts = []
        for text in (few, many):
            try:
                verdicts.append(("read", loads(text) is not None))
            except JsonRefused:
                verdicts.append(("refused", True))
        assert verdicts[0] == verdicts[1], (few, verdicts)


@pytest.mark.parametrize("read", [loads, first_value])
def test_a_str_with_a_lone_surrogate_is_refused(read) -> None:
    with pytest.raises(JsonRefused):
        read('"\ud800"')


def test_first_value_ignores_a_long_tail() -> None:
    assert first_value('{"a":1} ' + "[]" * 300) == {"a": 1}


TAILS = ["", " ", ",", "]}" * 40, "[" * 40, ' {"b":' * 40, "e5", ".5[" + "{" * 40, '"x" ' + "[]" * 100, "1" * 20]


@settings(SETTINGS, max_examples=60)
@given(values() | deep_objects, st.sampled_from(TAILS) | st.text(max_size=40).map(lambda t: t + "[" * 33),
       dumps_options)
def test_first_value_equals_raw_decode_within_the_depth(value: object, tail: str, options: dict) -> None:
    text = json.dumps(value, **options) + tail  # tails under 512 bytes: see test_first_value_ignores_a_long_tail
    try:
        expected = canon(json.JSONDecoder().raw_decode(text)[0])
    except ValueError:
        expected = None
    try:
        got = canon(first_value(text))
    except JsonRefused:
        got = None
    assert got == (expected if depth(value) <= DEPTH else None)



def _names(count: int) -> bytes:
    return ("{" + ",".join(f'"k{i}":0' for i in range(count)) + "}").encode()


def test_distinct_member_names_cost_linear_time() -> None:
    costs = []
    for count in (1_500, 6_000):
        raw = _names(count)
        start = time.perf_counter()
        assert len(scan(raw, located=True).names) == count
        costs.append(time.perf_counter() - start)
    assert costs[1] < 8 * costs[0]  # linear: ~4x; quadratic: ~16x


@pytest.mark.parametrize("raw", [b'{"m":"' + b"\\n" * 100_000 + b'"}', b'{"m":[' + b"1," * 100_000 + b"1]}"],
                         ids=["escapes", "numbers"])
def test_memory_does_not_grow_with_a_chunk(raw: bytes) -> None:
    tracemalloc.start()
    try:
        Scanner().feed(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * len(raw) + 100_000  # the chunk's decoded copy; not 60-650 bytes per token
