"""json_scan: properties (Hypothesis) of the bounded scanner, and its sharp edges (pure, CPython).

The check_* functions take the module under test, so test_json_scan_mutants.py can run them on broken copies.
"""

from __future__ import annotations

import contextlib
import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules import json_scan

DEPTH = 32  # json_scan.MAX_DEPTH spelled out: a changed limit must fail these tests
SETTINGS = settings(deadline=None, database=None, max_examples=100,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# -- strategies ---------------------------------------------------------------------------------------------

POOL = ("model", "messages", "stream", "metadata", "a", "", "é", "\U0001f600")
SPECIAL_TEXT = ('"', "\\", "\x00", "\x1f", "\x7f", "\u2028", "\ufeff", "\U0001f600", "é", "/", "\\u0041", "\\ud800")
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=10) | st.sampled_from(SPECIAL_TEXT)
keys = st.sampled_from(POOL) | texts


INT64 = st.integers(-2**63, 2**64 - 1)  # where orjson reads an int (wider: a float)


def values(ints: st.SearchStrategy[int] = INT64) -> st.SearchStrategy:
    scalars = st.none() | st.booleans() | ints | st.floats(allow_nan=False, allow_infinity=False) | texts
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                        max_leaves=12)


def nest(inner: object, kinds: list[bool]) -> dict:
    for as_list in kinds:
        inner = [inner] if as_list else {"k": inner}
    return {"deep": inner}


objects = st.dictionaries(keys, values(), max_size=6)
wide_ints = st.integers(-(10**100) + 1, 10**100 - 1)  # json.loads agrees; orjson does not (see the LiteLLM tests)
deep_objects = st.builds(nest, values(), st.lists(st.booleans(), min_size=25, max_size=36))
dumps_options = st.fixed_dictionaries({
    "ensure_ascii": st.booleans(),
    "indent": st.sampled_from([None, None, 0, 2, "\t"]),
    "separators": st.sampled_from([None, (",", ":"), (", ", ": "), (" ,\r\n", " :\t")]),
})
valid_bodies = st.builds(lambda obj, opts: json.dumps(obj, **opts).encode(), objects, dumps_options)

MUTATION_BYTES = st.sampled_from([*b'{}[]",:\\ \t\n0123456789-+.eEtrufalsnNI',
                                  0x00, 0x1F, 0x7F, 0xC3, 0xA9, 0xE2, 0x82, 0xED, 0xA0, 0xEF, 0xBB, 0xBF, 0xFF]) \
    | st.integers(0, 255)


def mutate(raw: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    body = bytearray(raw)
    for op, at, byte in edits:
        if op == 0 or not body:
            body.insert(at % (len(body) + 1), byte)
        elif op == 1:
            del body[at % len(body)]
        else:
            body[at % len(body)] = byte
    return bytes(body)


mutated_bodies = st.builds(mutate, valid_bodies, st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 10**4), MUTATION_BYTES), min_size=1, max_size=4))

# Hostile bodies, put together from raw JSON-ish tokens: each differs from valid JSON in one known way.
RAW_NAMES = [b'"model"', b'"mod\\u0065l"', b'"stream"', b'"a"', b'""', b'"\\ud800"', b'"\\udc00"', b'"a\\"b"',
             b'"\xc3\xa9"', b'"\xed\xa0\x80"', b'"\xff"', b"model", b"'a'", b'"\\u00e9"', b'"\x01"']
RAW_VALUES = [b"NaN", b"-Infinity", b"Infinity", b'"\\ud800"', b'"\\udc00x"', b'"\\ud83d\\ude00"', b'"\\ude00\\ud83d"',
              b"1e400", b"-1e400", b"1" + b"0" * 99, b"1" + b"0" * 100, b"0." + b"1" * 100, b"1E+0", b"-0", b"-0.0",
              b"01", b"+1", b".5", b"1.", b"0x10", b"true", b"True", b"nul", b'"\\u0000"', b'"\x00"', b'"\\x41"',
              b"'a'", b"[1,]", b'{"a":1,}', b'{"b":1,"b":2,"c":3}', b'{"\\ud800":1}', b'"\xed\xa0\x80"', b'"\xff"',
              b'"\xc0\xaf"', b"/*c*/1", b"[]", b"{}", b'"\\/"', b'"\xe2\x80\xa8"', b"1 2", b"[1 2]", b'"\t"',
              b'{"k":"\\ud800"}', b"[NaN]", b"18446744073709551615", b"-9223372036854775808"]
SEPARATORS = [b":", b" : ", b":\n", b":\x0c", b":\xc2\xa0"]
raw_values = st.sampled_from(RAW_VALUES) | values().map(lambda v: json.dumps(v).encode())
raw_values = raw_values | raw_values.map(lambda v: b"[" + v + b"]") | raw_values.map(lambda v: b'{"x":' + v + b"}")
good_members = st.dictionaries(keys, values(), max_size=4).map(
    lambda obj: [(json.dumps(name).encode(), b":", json.dumps(value).encode()) for name, value in obj.items()])
hostile_members = st.tuples(st.sampled_from(RAW_NAMES) | st.sampled_from(POOL).map(lambda k: json.dumps(k).encode()),
                            st.sampled_from(SEPARATORS[:1] * 4 + SEPARATORS), raw_values)


def assemble(prefix: bytes, members: list, odd: tuple, at: int, suffix: bytes) -> bytes:
    members.insert(at % (len(members) + 1), odd)
    return prefix + b"{" + b",".join(name + sep + value for name, sep, value in members) + b"}" + suffix


hostile_bodies = st.builds(
    assemble, st.sampled_from([b""] * 6 + [b" \n", b"\xef\xbb\xbf", b"\x0c", b"\xc2\xa0"]), good_members,
    hostile_members, st.integers(0, 4), st.sampled_from([b""] * 6 + [b"\r\n", b"x", b"{}", b"\x00", b","])) | st.builds(
    lambda obj, codec: json.dumps(obj).encode(codec), objects, st.sampled_from(["utf-16", "utf-16-le", "utf-32"]))


def duplicated(obj: dict, at: int, value: object) -> bytes:
    """`obj` with one of its names again (spelled with or without escapes): a body LiteLLM reads last-wins."""
    members = [json.dumps(name) + ":" + json.dumps(item) for name, item in obj.items()]
    again = json.dumps(list(obj)[at % len(obj)], ensure_ascii=at % 2 == 0) + ":" + json.dumps(value)
    members.insert(at % (len(members) + 1), again)
    return ("{" + ",".join(members) + "}").encode()


duplicate_bodies = st.builds(duplicated, st.dictionaries(keys, values(), min_size=1, max_size=4), st.integers(0, 9),
                             values())
lone = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff", "\udc00\ud800", "\ud83d\ud83d"])
odd_texts = st.builds(lambda head, bad, tail: head + bad + tail, texts, lone, texts)
surrogate_bodies = st.dictionaries(  # valid JSON; its lone surrogate escapes are what LiteLLM refuses
    st.sampled_from(POOL) | odd_texts, odd_texts | st.lists(odd_texts, max_size=2) | values(), min_size=1, max_size=4,
).map(lambda obj: json.dumps(obj).encode())
text_bodies = st.text().map(str.encode) | st.text(st.characters(exclude_categories=())).map(
    lambda t: t.encode("utf-8", "surrogatepass"))
any_bodies = valid_bodies | mutated_bodies | hostile_bodies | duplicate_bodies | surrogate_bodies \
    | st.binary(max_size=300) | text_bodies
cuts = st.lists(st.integers(0, 4096), max_size=10)
wanted_names = st.sets(st.sampled_from(POOL)).map(frozenset)

# -- helpers ------------------------------------------------------------------------------------------------


def depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def beyond_int64(value: object) -> bool:
    if isinstance(value, dict | list):
        return any(map(beyond_int64, value.values() if isinstance(value, dict) else value))
    return isinstance(value, int) and not -(2**63) <= value < 2**64


def canon(value: object) -> object:
    """Comparable with types: 1, 1.0 and True differ, and -0.0 differs from 0.0."""
    if isinstance(value, dict):
        return "dict", tuple((name, canon(item)) for name, item in value.items())
    if isinstance(value, list):
        return "list", tuple(map(canon, value))
    return type(value).__name__, repr(value)


def split(raw: bytes, at: list[int]) -> list[bytes]:
    bounds = [0, *sorted({cut % (len(raw) + 1) for cut in at}), len(raw)]
    return [raw[start:end] for start, end in itertools.pairwise(bounds)]


def outcome(js, raw: bytes, wanted: frozenset[str], chunks: list[bytes] | None = None, located: bool = True,
            object_only: bool = True):
    """None when refused, else everything the Shape says; only JsonRefused may escape the module."""
    try:
        if chunks is None:
            shape = js.scan(raw, wanted, located=located)
        else:
            scanner = js.Scanner(wanted, object_only)
            for chunk in chunks:
                scanner.feed(chunk)
            shape = scanner.close()
    except js.JsonRefused as refusal:
        assert isinstance(refusal, ValueError) and refusal.reason
        return None
    values = {name: canon(value) for name, value in shape.values.items()}
    if not shape.located:
        return shape.names, values
    return shape.names, values, shape.spans, shape.close, shape.size


# -- properties -------------------------------------------------------------------------------------------


def check_only_refusals_escape(js, raw: bytes, at: list[int]) -> None:
    for wanted in (frozenset(), frozenset(POOL)):
        outcome(js, raw, wanted, located=False)
        outcome(js, raw, wanted, split(raw, at))
        outcome(js, raw, wanted, split(raw, at), object_only=False)
    for arg in (raw, raw.decode("utf-8", "replace")):
        with contextlib.suppress(js.JsonRefused):
            js.loads(arg)


def check_chunking(js, raw: bytes, at: list[int], wanted: frozenset[str]) -> None:
    whole = outcome(js, raw, wanted, [raw])
    assert outcome(js, raw, wanted, split(raw, at)) == whole
    if len(raw) <= 3000:
        assert outcome(js, raw, wanted, [raw[i:i + 1] for i in range(len(raw))]) == whole
    assert outcome(js, raw, wanted) == whole  # scan(located=True) is the Scanner fed once
    fast = outcome(js, raw, wanted, located=False)
    assert fast == (whole if whole is None else whole[:2])
    if whole is not None:
        json.dumps(whole[1], ensure_ascii=False).encode()  # what LiteLLM checks: the values are valid Unicode


def check_agreement(js, obj: dict, options: dict, picked: set[int]) -> None:
    raw = json.dumps(obj, **options).encode()
    oracle = json.loads(raw)
    wanted = frozenset(name for i, name in enumerate(oracle) if i in picked) | {"absent"}
    if depth(oracle) > DEPTH:
        with pytest.raises(js.JsonRefused, match=f"nested deeper than {DEPTH}"):
            js.scan(raw, wanted, located=True)
        return
    try:
        shape = js.scan(raw, wanted, located=True)
    except js.JsonRefused:  # an integer orjson would read as a float may be refused (where it is decoded)
        if any(beyond_int64(value) for name, value in oracle.items() if name in wanted):
            return
        raise
    assert shape.names == list(oracle)
    expected = {name: canon(value) for name, value in oracle.items() if name in wanted}
    assert {name: canon(value) for name, value in shape.values.items()} == expected
    assert set(shape.spans) == set(shape.values)
    for name, (start, end) in shape.spans.items():
        assert canon(json.loads(raw[start:end])) == expected[name]
    assert raw[shape.close] == ord("}") and not raw[shape.close + 1:].strip()
    assert shape.size == len(raw)
    fast = js.scan(raw, wanted)
    assert (fast.names, {n: canon(v) for n, v in fast.values.items()}) == (shape.names, expected)


def check_depth(js, obj: dict, options: dict) -> None:
    """Verdict exactly when at most DEPTH deep, on every path: scan (both), chunked, and loads."""
    raw = json.dumps(obj, **options).encode()
    expected = canon(json.loads(raw)) if depth(obj) <= DEPTH else None
    for got in (outcome(js, raw, frozenset({"deep"})), outcome(js, raw, frozenset({"deep"}), located=False),
                outcome(js, raw, frozenset({"deep"}), split(raw, [len(raw) // 2]))):
        assert (got is None) == (expected is None)
        assert got is None or got[1]["deep"] == canon(obj["deep"])
    for arg in (raw, raw.decode()):
        try:
            assert canon(js.loads(arg)) == expected
        except js.JsonRefused as refusal:
            assert expected is None and f"nested deeper than {DEPTH}" in refusal.reason


def check_loads(js, value: object, options: dict) -> None:
    text = json.dumps(value, **options)
    if depth(value) > DEPTH:
        if text.count("[") + text.count("{") > DEPTH:
            with pytest.raises(js.JsonRefused):
                js.loads(text)
        return
    assert canon(js.loads(text)) == canon(json.loads(text)) == canon(js.loads(text.encode()))


@SETTINGS
@given(any_bodies, cuts)
def test_nothing_but_json_refused_escapes(raw: bytes, at: list[int]) -> None:
    check_only_refusals_escape(json_scan, raw, at)


@settings(SETTINGS, max_examples=120)
@given(any_bodies, cuts, wanted_names)
def test_verdict_and_shape_do_not_depend_on_chunking_or_path(raw: bytes, at: list[int], wanted) -> None:
    check_chunking(json_scan, raw, at, wanted)


@SETTINGS
@given(st.dictionaries(keys, values(wide_ints), max_size=6), dumps_options, st.sets(st.integers(0, 6)))
def test_agrees_with_json_loads_on_valid_objects(obj: dict, options: dict, picked: set[int]) -> None:
    check_agreement(json_scan, obj, options, picked)


@settings(SETTINGS, max_examples=60)
@given(deep_objects, dumps_options)
def test_depth_limit_is_exact_on_every_path(obj: dict, options: dict) -> None:
    check_depth(json_scan, obj, options)


@settings(SETTINGS, max_examples=60)
@given(values(wide_ints) | deep_objects | values().map(lambda v: [v, [{}] * 17]), dumps_options)  # >32 brackets
def test_loads_equals_json_loads_within_the_depth(value: object, options: dict) -> None:
    check_loads(json_scan, value, options)
