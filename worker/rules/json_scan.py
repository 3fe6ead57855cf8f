"""JSON read without building what is not needed: a bounded scanner over bytes, chunk by chunk.

Why not `json.loads`: inside Pyodide a deeply nested body overflows the native stack (~8,000 levels) and
leaves the isolate answering 500 to everything, whatever Python's recursion limit says; and the Python objects
of a parse cost 10-20x the text, in an isolate of 128 MB that every request in flight shares. So a body is
scanned as bytes by a loop with an explicit stack: grammar, depth and the number of items are checked as the
bytes arrive, nothing is decoded but the top-level members the caller asks for (each at most
MAX_MEMBER_BYTES), and the memory it needs does not grow with the body. Every refusal is a `JsonRefused`.

Stricter than the parsers behind it (orjson, then `json.loads`): NaN/Infinity, a duplicate top-level member,
invalid UTF-8, a byte-order mark and unpaired surrogates in what is decoded are refused, so what the edge
judges is what LiteLLM reads.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass, field
from typing import Any

MAX_DEPTH = 32  # levels of nesting; tool schemas in the wild stay under 12
MAX_ITEMS = 100_000  # objects, arrays and strings (member names included); runs of numbers are free
MAX_MEMBER_BYTES = 65_536  # a top-level member the edge decodes (model, metadata, stream_options, ...)
MAX_NAME_BYTES = 1_024  # a top-level member name
MAX_SCALAR_DIGITS = 100  # per part of a number (integer, fraction, exponent): `_SCALAR_TEXT` spells it out
FAST_PATH_BYTES = 65_536  # a body this small is parsed whole by `json.loads` once it cannot be too deep
_MAX_CARRY = 512  # bytes of a token cut by a chunk's end: a whole number at most, or part of an escape

_WS = re.compile(rb"[ \t\r\n]*")
# At most MAX_SCALAR_DIGITS digits per part: a longer number fails to match whole and is refused as invalid.
_SCALAR_TEXT = rb"(?:-?(?:0|[1-9][0-9]{0,99})(?:\.[0-9]{1,100})?(?:[eE][+-]?[0-9]{1,100})?|true|false|null)"
_SCALAR = re.compile(_SCALAR_TEXT)
_SCALAR_RUN = re.compile(_SCALAR_TEXT + rb"(?:[ \t\r\n]*,[ \t\r\n]*" + _SCALAR_TEXT + rb")*+")
_SCALAR_START = re.compile(rb"[-0-9tfn]")
_SCALAR_GOES_ON = re.compile(rb"[0-9a-zA-Z.+-]*")  # bytes that could still belong to the last scalar
_STRING_BODY = re.compile(rb'(?:[^"\\\x00-\x1f]+|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*+')
_BOM = codecs.BOM_UTF8
_LONG_DIGITS = re.compile(rb"[0-9]{%d}" % (MAX_SCALAR_DIGITS + 1))
_KINDS = {ord("["): "array", ord('"'): "string", ord("t"): "boolean", ord("f"): "boolean", ord("n"): "null"}

# What the scanner expects next.
_START, _VALUE, _VALUE_OR_CLOSE, _NAME, _NAME_OR_CLOSE, _COLON, _COMMA_OR_CLOSE, _DONE = range(8)
_OBJECT, _ARRAY = ord("{"), ord("[")


class JsonRefused(ValueError):
    """Why a body is refused, in words for the client; `member` names a top-level member too large to judge."""

    def __init__(self, reason: str, member: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.member = member


@dataclass
class Shape:
    """A scanned JSON object: its member names in order, the decoded values of the wanted ones, where each
    wanted value lies in the bytes ([start, end)), where the closing brace is, and the size."""

    names: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    close: int = 0
    size: int = 0
    located: bool = True  # spans and close are known (False from the small-body path, which has the bytes)


class Scanner:
    """Feed a body's chunks, then `close()`; raises JsonRefused as soon as the bytes say no."""

    def __init__(self, wanted: frozenset[str] = frozenset(), object_only: bool = True,
                 first_only: bool = False, shape_only: bool = False) -> None:
        self._wanted = wanted
        # Grammar and depth only (loads' check): no names kept, no item bound, so the verdict on a value is
        # the same as json.loads' whatever its brackets.
        self._shape_only = shape_only
        self._object_only = object_only  # a request body must be an object; other JSON may be any value
        self._first_only = first_only  # stop after the first value, whatever follows (raw_decode's way)
        self._utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self._shape = Shape()
        self._seen: set[str] = set()  # the top-level names so far
        self._stack: list[int] = []
        self._expect = _START
        self._items = 0
        self._in_string = False
        self._carry = b""
        self._base = 0  # offset of the pending bytes (carry + chunk) in the whole body
        self._name: bytearray | None = None  # a top-level member name being read
        self._member: str | None = None  # the top-level member whose value is being read
        self._value_start = -1  # its offset, once it has begun
        self._captured: bytearray | None = None  # its bytes so far, when it is wanted
        self._naming = False  # the string being read is a member name
        self._buf = b""  # the bytes being scanned (carry + chunk)

    def feed(self, chunk: bytes) -> None:
        try:
            self._utf8.decode(chunk)
        except UnicodeDecodeError:
            raise JsonRefused("it is not valid UTF-8") from None
        self._shape.size += len(chunk)
        self._run(self._carry + chunk if self._carry else chunk, final=False)

    def close(self) -> Shape:
        try:
            self._utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            raise JsonRefused("it is not valid UTF-8") from None
        self._run(self._carry, final=True)
        if self._expect == _START:
            raise JsonRefused("it is empty")
        if self._expect != _DONE or self._in_string:
            raise JsonRefused("it ends before the JSON does")
        return self._shape

    # -- the loop -------------------------------------------------------------------------------------

    def _run(self, buf: bytes, final: bool) -> None:
        self._buf = buf
        pos, end = 0, len(buf)
        while pos < end:
            if self._in_string:
                pos = self._string(buf, pos, final)
                if self._in_string:
                    break  # the string goes on in the next chunk
                continue
            pos = _WS.match(buf, pos).end()
            if pos == end:
                break
            byte = buf[pos]
            if self._expect == _DONE:
                if self._first_only:
                    pos = end  # the rest is not ours to read
                    break
                raise JsonRefused("something follows the JSON object")
            if byte == 0x22:  # "
                self._open_string(buf, pos)
                pos += 1
            elif byte in (_OBJECT, _ARRAY):
                self._open(byte, pos)
                pos += 1
            elif byte in (0x7D, 0x5D):  # } ]
                self._close(byte, pos)
                pos += 1
            elif byte == 0x2C:  # ,
                pos = self._comma(pos)
            elif byte == 0x3A:  # :
                if self._expect != _COLON:
                    raise JsonRefused("it is not valid JSON")
                self._expect = _VALUE
                pos += 1
            else:
                scanned = self._scalar(buf, pos, final)
                if scanned < 0:
                    break  # a number cut by the chunk's end: read it whole from the next one
                pos = scanned
        self._keep(buf, pos)

    def _keep(self, buf: bytes, pos: int) -> None:
        """Carries the unread bytes over to the next chunk, and a wanted value's read bytes into its capture."""
        if self._captured is not None and self._value_start >= 0:
            self._capture(buf[max(0, self._value_start - self._base):pos])
        self._carry = buf[pos:]
        if len(self._carry) > _MAX_CARRY:
            raise JsonRefused("it is not valid JSON")
        self._base += pos

    # -- tokens ---------------------------------------------------------------------------------------

    def _begin_value(self, pos: int, byte: int) -> None:
        if self._expect == _START:
            if self._object_only and byte != _OBJECT:
                raise JsonRefused(_not_json_reason(byte))
            return
        if self._expect not in (_VALUE, _VALUE_OR_CLOSE):
            raise JsonRefused("it is not valid JSON")
        if len(self._stack) == 1:  # a top-level member's value begins
            self._value_start = self._base + pos
            self._captured = bytearray() if self._member in self._wanted else None

    def _end_value(self, end: int) -> None:
        """A value ended at `end` (exclusive): at the top level, its member is complete."""
        self._expect = _COMMA_OR_CLOSE if self._stack else _DONE
        if len(self._stack) != 1 or self._member is None:
            return
        member, start = self._member, self._value_start
        if self._captured is not None:
            self._capture(self._buf[max(0, start - self._base):end])
            self._shape.values[member] = _decoded(bytes(self._captured))
            self._shape.spans[member] = (start, self._base + end)
        self._member, self._value_start, self._captured = None, -1, None

    def _capture(self, piece: bytes) -> None:
        assert self._captured is not None
        self._captured += piece
        if len(self._captured) > MAX_MEMBER_BYTES:
            raise JsonRefused(f"the member '{(self._member or '')[:100]}' is over {MAX_MEMBER_BYTES} bytes",
                              self._member)

    def _count(self) -> None:
        self._items += 1
        if self._items > MAX_ITEMS and not self._shape_only:
            raise JsonRefused(f"it holds more than {MAX_ITEMS} objects, arrays and strings")

    def _open_string(self, buf: bytes, pos: int) -> None:
        self._count()
        if self._expect in (_NAME, _NAME_OR_CLOSE):
            self._name = bytearray() if len(self._stack) == 1 and not self._shape_only else None
            self._expect = _COLON  # once the name is read
            self._naming = True
        else:
            self._begin_value(pos, 0x22)
            self._naming = False
        self._in_string = True

    def _string(self, buf: bytes, pos: int, final: bool) -> int:
        """Reads string bytes from `pos`; returns where it stopped (after the closing quote, when found)."""
        stop = _STRING_BODY.match(buf, pos).end()
        if self._naming and self._name is not None:
            self._name += buf[pos:stop]
            if len(self._name) > 6 * MAX_NAME_BYTES:  # \uXXXX: at most 6 bytes a character
                raise JsonRefused(f"a member name is over {MAX_NAME_BYTES} bytes")
        if stop == len(buf):
            return stop
        if buf[stop] == 0x22:
            self._in_string = False
            if self._naming:
                self._named()
            else:
                self._end_value(stop + 1)
            return stop + 1
        if buf[stop] == 0x5C and len(buf) - stop < 6 and not final:
            return stop  # an escape cut by the chunk's end: carried over
        raise JsonRefused("a string holds a control character or an invalid escape")

    def _named(self) -> None:
        if self._name is None:
            return
        name = _decoded(b'"' + bytes(self._name) + b'"')
        self._name = None
        if name in self._seen:
            raise JsonRefused(f"the member '{name[:100]}' appears twice")
        if len(name.encode()) > MAX_NAME_BYTES:
            raise JsonRefused(f"a member name is over {MAX_NAME_BYTES} bytes")
        self._seen.add(name)
        self._shape.names.append(name)
        self._member = name

    def _open(self, byte: int, pos: int) -> None:
        self._begin_value(pos, byte)
        self._count()
        if len(self._stack) >= MAX_DEPTH:
            raise JsonRefused(f"it is nested deeper than {MAX_DEPTH} levels")
        self._stack.append(byte)
        self._expect = _NAME_OR_CLOSE if byte == _OBJECT else _VALUE_OR_CLOSE

    def _close(self, byte: int, pos: int) -> None:
        kind = _OBJECT if byte == 0x7D else _ARRAY
        allowed = (_COMMA_OR_CLOSE, _NAME_OR_CLOSE if kind == _OBJECT else _VALUE_OR_CLOSE)
        if not self._stack or self._stack[-1] != kind or self._expect not in allowed:
            raise JsonRefused("it is not valid JSON")
        self._stack.pop()
        if not self._stack:
            self._shape.close = self._base + pos
        self._end_value(pos + 1)

    def _comma(self, pos: int) -> int:
        if self._expect != _COMMA_OR_CLOSE:
            raise JsonRefused("it is not valid JSON")
        self._expect = _NAME if self._stack[-1] == _OBJECT else _VALUE
        return pos + 1

    def _scalar(self, buf: bytes, pos: int, final: bool) -> int:
        """Reads a number or literal (in an array, a whole run of them at once); -1 when the chunk's end cuts
        it. Scalars are not counted as items: they cost no memory and a run costs one step."""
        if not _SCALAR_START.match(buf, pos):
            raise JsonRefused("it is not valid JSON")
        self._begin_value(pos, buf[pos])
        in_array = bool(self._stack) and self._stack[-1] == _ARRAY
        found = (_SCALAR_RUN if in_array else _SCALAR).match(buf, pos)
        if found is None:
            if not final and len(buf) - pos <= _MAX_CARRY:
                return -1
            raise JsonRefused("it is not valid JSON (NaN, Infinity and unquoted words are not JSON)")
        stop = found.end()
        if not final and _SCALAR_GOES_ON.fullmatch(buf, stop):  # the chunk's end may cut the last one
            if not in_array:
                return -1
            last = buf.rfind(b",", pos, stop)  # keep the complete ones; the last may go on
            if last < 0:
                return -1
            stop = _SCALAR_RUN.match(buf, pos, last).end()  # type: ignore[union-attr]
        self._end_value(stop)
        return stop


def _decoded(raw: bytes) -> Any:
    """A bounded piece of JSON (already checked for grammar and depth) as Python values."""
    try:
        value = json.loads(raw)
    except ValueError:  # e.g. an integer past Python's 4,300 digits
        raise JsonRefused("it is not valid JSON") from None
    if not _encodable(value):
        raise JsonRefused("a string holds an unpaired surrogate")
    if not _int64(value):
        raise JsonRefused("an integer is beyond 64 bits")
    return value


def _encodable(value: Any) -> bool:
    """True when every string in `value` is valid Unicode (depth is bounded by MAX_DEPTH)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_encodable(k) and _encodable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_encodable(item) for item in value)
    return True


_ORJSON_INTS = range(-(2**63), 2**64)  # LiteLLM's orjson reads any other integer as a float


def _int64(value: Any) -> bool:
    """True when orjson reads every integer in `value` as the same integer (depth is bounded by MAX_DEPTH)."""
    if isinstance(value, int):
        return value in _ORJSON_INTS
    if isinstance(value, dict):
        return all(_int64(item) for item in value.values())
    if isinstance(value, list):
        return all(_int64(item) for item in value)
    return True


def _not_json_reason(byte: int) -> str:
    kind = _KINDS.get(byte, "number" if byte in b"-0123456789" else None)
    return f"got a JSON {kind}" if kind else "it is not valid JSON"


def scan(raw: bytes, wanted: frozenset[str] = frozenset(), located: bool = False) -> Shape:
    """The shape of a whole body at once: the same verdict and values as the Scanner fed in chunks.

    A small body with fewer brackets in all than MAX_DEPTH cannot be too deep: `json.loads` (C speed) reads
    it, with the Scanner's strictness added; `located` asks for spans, which only the Scanner gives.
    """
    if not located and len(raw) <= FAST_PATH_BYTES and raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH \
            and not raw.startswith(_BOM) and _LONG_DIGITS.search(raw) is None:
        return _parsed(raw, wanted)
    scanner = Scanner(wanted)
    scanner.feed(raw)
    return scanner.close()


def _parsed(raw: bytes, wanted: frozenset[str]) -> Shape:
    try:
        text = raw.decode("utf-8")  # never json.loads' own guess (it would read UTF-16 or a BOM)
    except UnicodeDecodeError:
        raise JsonRefused("it is not valid UTF-8") from None
    last_pairs: list[list[tuple[str, Any]]] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        last_pairs[:] = [items]  # the top-level object is the last one to be completed
        return dict(items)

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=_no_constant)
    except ValueError:
        raise JsonRefused("it is not valid JSON") from None
    if not isinstance(data, dict):
        raise JsonRefused(_not_json_reason(text.lstrip(" \t\r\n").encode()[0]))
    names: list[str] = []
    seen: set[str] = set()
    for name, _ in last_pairs[0]:
        if name in seen:
            raise JsonRefused(f"the member '{name[:100]}' appears twice")
        if not _encodable(name):
            raise JsonRefused("a string holds an unpaired surrogate")
        if len(name.encode()) > MAX_NAME_BYTES:
            raise JsonRefused(f"a member name is over {MAX_NAME_BYTES} bytes")
        seen.add(name)
        names.append(name)
    values = {name: data[name] for name in wanted if name in data}
    for value in values.values():
        if not _encodable(value):
            raise JsonRefused("a string holds an unpaired surrogate")
        if not _int64(value):
            raise JsonRefused("an integer is beyond 64 bits")
    return Shape(names, values, size=len(raw), located=False)


def _no_constant(name: str) -> Any:
    raise ValueError(name)  # NaN, Infinity, -Infinity: not JSON


def loads(raw: bytes | str) -> Any:
    """`json.loads` for JSON the gateway did not write (admin bodies, LiteLLM's answers), as strict JSON (no
    NaN/Infinity, no number over MAX_SCALAR_DIGITS digits a part), refused with JsonRefused when its nesting
    could hurt. Cheap for the usual case: with fewer brackets than MAX_DEPTH in all, the depth cannot be over
    it, and json.loads alone decides."""
    try:
        data = raw.encode() if isinstance(raw, str) else raw
    except UnicodeEncodeError:
        raise JsonRefused("it is not valid Unicode") from None
    if data.count(b"[") + data.count(b"{") > MAX_DEPTH or _LONG_DIGITS.search(data) is not None:
        _check_depth(data)
    try:
        return json.loads(data, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):
        raise JsonRefused("it is not valid JSON") from None


def first_value(text: str) -> Any:
    """`json.JSONDecoder().raw_decode(text)[0]` — the value `text` starts with — refused with JsonRefused
    when its nesting could hurt (metering reads a usage object out of the tail of LiteLLM's answers)."""
    try:
        data = text.encode()
    except UnicodeEncodeError:
        raise JsonRefused("it is not valid Unicode") from None
    if data.count(b"[") + data.count(b"{") > MAX_DEPTH:
        scanner = Scanner(object_only=False, first_only=True, shape_only=True)
        scanner.feed(data)  # raises once the first value nests too deep, stops reading once it is over
    try:
        return json.JSONDecoder().raw_decode(text)[0]
    except ValueError:
        raise JsonRefused("it is not valid JSON") from None


def _check_depth(data: bytes) -> None:
    """Grammar and depth of any JSON value (not only objects), without decoding it."""
    scanner = Scanner(object_only=False, shape_only=True)
    scanner.feed(data)
    scanner.close()
