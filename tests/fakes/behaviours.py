"""Shared pieces of the fake provider: options, per-model behaviour, markers, counters.

Behaviour is chosen from the *upstream* model name the fake receives (what LiteLLM sends, e.g.
``gpt-fail-500``), so failure injection lives in the LiteLLM config and needs no side channel.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import struct
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

# How many recent requests /_fake/stats keeps; older ones only survive in the counters.
MAX_RECORDED_REQUESTS = 200
# The stats keep a prefix of the marker so a 1 MB prompt does not bloat every stats call.
MARKER_PREVIEW_CHARS = 200
EMBEDDING_DIMENSIONS = 8
ECHO_PREFIX = "echo: "

_DELAY_RE = re.compile(r"delay(\d+)")
_SLOW_RE = re.compile(r"slow(\d+)")
_CHUNKS_RE = re.compile(r"chunks(\d+)")


@dataclass(frozen=True)
class Options:
    """Server-wide defaults, set from the command line."""

    slow_ms: int = 2000
    chunk_delay_ms: int = 0
    chunks: int = 5


@dataclass(frozen=True)
class Behaviour:
    """What to do for one request, derived from its model name."""

    fail_500: bool = False
    fail_429: bool = False
    slow_ms: int = 0
    hang: bool = False
    cut: bool = False
    chunk_delay_ms: int = 0
    chunks: int = 5


def behaviour_for(model: str, options: Options) -> Behaviour:
    """Map a model name to its behaviour; substrings compose (``gpt-slow-delay300`` is both)."""
    name = model.lower()
    delay = _DELAY_RE.search(name)
    slow = _SLOW_RE.search(name)
    chunks = _CHUNKS_RE.search(name)
    slow_ms = 0
    if slow:
        slow_ms = int(slow.group(1))
    elif "slow" in name:
        slow_ms = options.slow_ms
    return Behaviour(
        fail_500="fail-500" in name,
        fail_429="fail-429" in name,
        slow_ms=slow_ms,
        hang="hang" in name,
        cut="cut" in name,
        chunk_delay_ms=int(delay.group(1)) if delay else options.chunk_delay_ms,
        chunks=max(1, int(chunks.group(1)) if chunks else options.chunks),
    )


def text_of(content: Any) -> str:
    """Text of an OpenAI/Anthropic message content: a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return ""


def last_user_text(messages: Any) -> str:
    """The marker of a chat/messages request: the content of the last user message."""
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def prompt_text(prompt: Any) -> str:
    """The marker of a legacy completion: the prompt, or the last prompt of a list."""
    if isinstance(prompt, list) and prompt:
        prompt = prompt[-1]
    return prompt if isinstance(prompt, str) else ""


def split_text(text: str, pieces: int) -> list[str]:
    """Split text into `pieces` contiguous parts (fewer if the text is shorter); joined they give it back."""
    pieces = max(1, min(pieces, len(text)))
    size, extra = divmod(len(text), pieces)
    out, start = [], 0
    for i in range(pieces):
        end = start + size + (1 if i < extra else 0)
        out.append(text[start:end])
        start = end
    return out


def count_tokens(text: str) -> int:
    """A stable stand-in for a tokenizer: about four characters per token."""
    return max(1, len(text) // 4)


def embedding_for(text: str) -> list[float]:
    """Deterministic vector in [-1, 1] from the sha256 of the input, so equal inputs give equal vectors."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round(int.from_bytes(digest[i * 4 : i * 4 + 4], "big") / 2**31 - 1.0, 6) for i in range(8)]


def embedding_base64(vector: list[float]) -> str:
    """The openai SDK asks for ``encoding_format=base64`` by default: little-endian float32, base64."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


async def wait_for_disconnect(receive: Any) -> None:
    """Block until the client goes away: after the body is consumed, ASGI receive() only yields disconnect."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def pause_ms(ms: int) -> None:
    if ms > 0:
        await asyncio.sleep(ms / 1000)


class Stats:
    """Counters that let tests prove which requests reached the provider."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.total = 0
        self.requests: deque[dict[str, Any]] = deque(maxlen=MAX_RECORDED_REQUESTS)

    def reset(self) -> None:
        self.hits.clear()
        self.total = 0
        self.requests.clear()

    def record(self, path: str, model: str, body: bytes, marker: str, headers: Any, stream: bool) -> dict:
        """Count one request; the returned dict is live, so handlers can add the status they answered."""
        auth = headers.get("authorization")
        api_key = headers.get("x-api-key")
        entry = {
            "path": path,
            "model": model,
            "body_bytes": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            # LiteLLM re-serialises the JSON, so the body hash never equals the client's; the marker
            # hash is what a test compares to prove a large prompt arrived intact.
            "marker": marker[:MARKER_PREVIEW_CHARS],
            "marker_bytes": len(marker.encode()),
            "marker_sha256": hashlib.sha256(marker.encode()).hexdigest(),
            "authorization_present": bool(auth or api_key),
            "auth_scheme": "bearer" if auth else ("x-api-key" if api_key else None),
            # Names only (values may hold keys): enough to check e.g. that anthropic-version was sent.
            "header_names": sorted(headers),
            # Who the caller claims to be, as the provider (or a fronted LiteLLM) would see it.
            "forwarded_for": headers.get("x-forwarded-for"),
            "stream": stream,
            "status": None,
            "ts": time.time(),
        }
        self.total += 1
        if model:
            self.hits[model] += 1
        self.requests.append(entry)
        return entry

    def snapshot(self) -> dict[str, Any]:
        return {"hits": dict(self.hits), "total": self.total, "requests": list(self.requests)}
