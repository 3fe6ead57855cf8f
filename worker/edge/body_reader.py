"""A JSON request body read once at the edge (thin JS adapter): chunk by chunk, within the request's limit and
the isolate's, judged by json_scan as the bytes arrive, and held once — as the chunks it arrived in, which are
forwarded as a stream of views on them.

Memory (128 MB per isolate, shared by its requests in flight): Python never holds more than one chunk of a
large body (json_scan decodes only the members the policy reads); JS holds the chunks once — never joined, and
never a buffer handed to a Request, which the runtime would copy (undici does: +1x the body) — and the bytes
every request holds at once are bounded by MAX_BUFFERED_BYTES (body_limit.BufferedBytes): past it the edge
answers 503 at once instead of buffering. A body of at most json_scan.FAST_PATH_BYTES is read whole and
parsed at C speed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import js
from pyodide.ffi import create_proxy, to_js

from bridge.js_interop import js_dict
from bridge.streams import cancel_reader
from edge.request_policy import WANTED, Caps, Verdict, edits, judge, judge_shape, refused_body, rewritten, spliced
from rules import errors
from rules.body_limit import Claim
from rules.json_scan import FAST_PATH_BYTES, JsonRefused, Scanner


@dataclass(frozen=True)
class JsonBody:
    """What to forward — the body's `size` bytes as JS arrays, in order — and the policy's verdict on it."""

    pieces: list[Any]
    size: int
    verdict: Verdict

    def content(self) -> Any:
        """A fresh body for one Request: a small body's one buffer as is, else a stream of the arrays (a stream,
        because a Request given a buffer copies it). Fresh each time, so warm-sibling routing can send again."""
        return self.pieces[0] if len(self.pieces) == 1 and self.size <= FAST_PATH_BYTES else _stream(self.pieces)


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
        if changed is None:
            return JsonBody([buffer], len(raw), verdict)
        return JsonBody([to_js(changed)], len(changed), verdict)
    return await _scanned(request.body, declared, limit, claim, caps, ask_usage)


async def _scanned(body: Any, declared: int | None, limit: int, claim: Claim, caps: Caps,
                   ask_usage: bool) -> JsonBody | errors.GatewayError:
    """A large or unannounced body: scanned chunk by chunk as it arrives, the chunks kept as they are."""
    reader = body.getReader()
    scanner = Scanner(WANTED)
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
            chunks.append(chunk)
        shape = scanner.close()
        verdict = judge_shape(shape, caps, ask_usage)
    except JsonRefused as refusal:
        return refused_body(refusal)
    finally:
        if not done:
            await cancel_reader(reader, "request body refused")
    if isinstance(verdict, errors.GatewayError):
        return verdict
    pieces = _views(chunks, spliced(size, edits(shape, verdict.changes)))
    return JsonBody(pieces, sum(piece.byteLength for piece in pieces), verdict)


def _views(chunks: list[Any], pieces: list[tuple[int, int] | bytes]) -> list[Any]:
    """The spliced body as Uint8Arrays: views on the chunks for the original ranges, new arrays for the rest."""
    out: list[Any] = []
    starts, at = [], 0
    for chunk in chunks:
        starts.append(at)
        at += chunk.byteLength
    for piece in pieces:
        if not isinstance(piece, tuple):
            out.append(to_js(piece))
            continue
        start, end = piece
        for chunk, first in zip(chunks, starts, strict=True):
            last = first + chunk.byteLength
            if last > start and first < end:
                out.append(chunk.subarray(max(start, first) - first, min(end, last) - first))
    return out


def _stream(pieces: list[Any]) -> Any:
    """A ReadableStream of the pieces, all enqueued at once: its reader takes the same arrays, no copy."""

    def start(controller: Any) -> None:
        for piece in pieces:
            controller.enqueue(piece)
        controller.close()

    proxy = create_proxy(start)
    try:
        return js.ReadableStream.new(js_dict({"start": proxy}))  # start() runs within the constructor
    finally:
        proxy.destroy()

