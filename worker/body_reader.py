"""A JSON request body read once at the edge (thin JS adapter): chunk by chunk, within the request's limit and
the isolate's, judged by json_scan as the bytes arrive, and held once — as the JS buffer that is forwarded.

Memory (128 MB per isolate, shared by its requests in flight): Python never holds more than one chunk of a
large body (json_scan decodes only the members the policy reads), and the bytes every request holds at once
are bounded by MAX_BUFFERED_BYTES (body_limit.BufferedBytes): past it the edge answers 503 at once instead
of buffering. A body of at most json_scan.FAST_PATH_BYTES is read whole and parsed at C speed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import js
from pyodide.ffi import JsException, to_js

import errors
from body_limit import Claim
from json_scan import FAST_PATH_BYTES, JsonRefused, Scanner
from request_policy import WANTED, Accepted, Caps, Edit, edits, judge, judge_shape, refused_body, rewritten


@dataclass(frozen=True)
class JsonBody:
    """What to forward (a JS Uint8Array or ArrayBuffer) and the policy's verdict on it."""

    buffer: Any
    verdict: Accepted


async def read_json(request: Any, declared: int | None, limit: int, claim: Claim, caps: Caps,
                    ask_usage: bool) -> JsonBody | errors.GatewayError:
    """Reads and judges the JS `request`'s JSON body; `claim` holds its bytes against the isolate's budget
    (the caller releases it once the body is sent). Stops reading at the first byte that decides a refusal."""
    if declared is not None and not claim.take(declared):
        return errors.gateway_busy()
    if declared is not None and declared <= FAST_PATH_BYTES:
        buffer = await request.arrayBuffer()
        if buffer.byteLength > limit:  # the runtime frames the body by Content-Length: a bug guard only
            return errors.request_too_large(limit)
        raw = buffer.to_bytes()
        verdict = judge(raw, caps, ask_usage)
        if isinstance(verdict, errors.GatewayError):
            return verdict
        changed = rewritten(raw, verdict)
        return JsonBody(buffer if changed is None else to_js(changed), verdict)
    return await _scanned(request.body, declared, limit, claim, caps, ask_usage)


async def _scanned(body: Any, declared: int | None, limit: int, claim: Claim, caps: Caps,
                   ask_usage: bool) -> JsonBody | errors.GatewayError:
    """A large or unannounced body: scanned chunk by chunk. With a Content-Length the bytes go straight into
    one buffer of that size (held once); without, the chunks are joined at the end (briefly held twice)."""
    reader = body.getReader()
    scanner = Scanner(WANTED)
    whole = None if declared is None else js.Uint8Array.new(declared)
    chunks: list[Any] = []
    size, done = 0, False
    try:
        while True:
            step = await reader.read()
            if step.done:
                done = True
                break
            chunk = step.value
            size += chunk.byteLength
            if size > limit:
                return errors.request_too_large(limit)
            if declared is None and not claim.take(chunk.byteLength):
                return errors.gateway_busy()
            if declared is not None and size > declared:
                return errors.invalid_content_length()
            scanner.feed(chunk.to_bytes())  # one chunk in Python at a time, dropped once scanned
            if whole is None:
                chunks.append(chunk)
            else:
                whole.set(chunk, size - chunk.byteLength)
        shape = scanner.close()
        verdict = judge_shape(shape, caps, ask_usage)
    except JsonRefused as refusal:
        return refused_body(refusal)
    finally:
        if not done:
            await _cancel(reader)
    if isinstance(verdict, errors.GatewayError):
        return verdict
    if whole is None:
        whole = chunks[0] if len(chunks) == 1 else _concat(chunks, size)
    elif size < declared:  # type: ignore[operator]
        whole = whole.subarray(0, size)
    return JsonBody(_edited(whole, size, edits(shape, verdict.changes)), verdict)


def _edited(whole: Any, size: int, changes: tuple[Edit, ...]) -> Any:
    """The Uint8Array with `changes` written in (sorted, never overlapping); itself when there are none."""
    pieces: list[Any] = []
    at = 0
    for edit in sorted(changes, key=lambda e: e.start):
        pieces += [whole.subarray(at, edit.start), to_js(edit.text)]
        at = edit.end
    if not pieces:
        return whole
    return _concat([*pieces, whole.subarray(at, size)], None)


def _concat(parts: list[Any], size: int | None) -> Any:
    total = size if size is not None else sum(part.byteLength for part in parts)
    out = js.Uint8Array.new(total)
    offset = 0
    for part in parts:
        out.set(part, offset)
        offset += part.byteLength
    return out


async def _cancel(reader: Any) -> None:
    """Stops reading a refused body (the rest is never pulled from the client)."""
    with contextlib.suppress(JsException):  # a reason: a bare cancel() rejects with `undefined`
        await reader.cancel(js.Error.new("request body refused"))
