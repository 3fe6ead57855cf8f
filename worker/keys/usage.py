"""Token usage read from responses as they pass, without holding a body or a stream.

- JSON answers: `usage` is the last or nearly last member of every format the gateway forwards (chat,
  completions, embeddings, responses, messages), so only the body's tail is kept.
- Server-sent events: one event is held at a time (until its blank line); the usage is the final
  OpenAI chunk, Anthropic's `message_start` + `message_delta`, or the Responses API's
  `response.completed`. When the gateway itself added `stream_options.include_usage`, the usage-only
  chunk it caused is removed (and `"usage": null` from the other chunks), so the client gets what it
  asked for.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import json_scan

JSON_TAIL_BYTES = 65_536
MAX_EVENT_BYTES = 1_048_576  # a larger event is passed on unread (and the stream no longer filtered)
_USAGE_KEY = re.compile(rb'(?<!\\)"usage"\s*:\s*\{')
_EVENT_END = re.compile(rb"\r?\n\r?\n")


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failed: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def usage_from_object(usage: Any) -> Usage | None:
    """OpenAI (`prompt_/completion_tokens`), Responses and Anthropic (`input_/output_tokens`, cache reads
    and writes counted as prompt tokens, as LiteLLM counts them)."""
    if not isinstance(usage, dict):
        return None
    prompt = _count(usage, "prompt_tokens")
    if prompt is None:
        parts = [_count(usage, name) for name in
                 ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
        prompt = sum(part for part in parts if part is not None) if parts[0] is not None else None
    completion = _count(usage, "completion_tokens")
    if completion is None:
        completion = _count(usage, "output_tokens")
    if prompt is None and completion is None:
        return None
    return Usage(prompt or 0, completion or 0)


def _count(usage: dict[str, Any], name: str) -> int | None:
    value = usage.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


class JsonUsage:
    """Feed the JSON body's chunks; `usage()` at the end reads the last top-level-looking usage object."""

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> None:  # None: the chunk itself passes on untouched
        self._tail = (self._tail + chunk)[-JSON_TAIL_BYTES:]

    def flush(self) -> bytes:
        return b""  # nothing held back

    def usage(self) -> Usage | None:
        matches = list(_USAGE_KEY.finditer(self._tail))
        for match in reversed(matches):
            text = self._tail[match.end() - 1:].decode("utf-8", "replace")
            try:
                value = json_scan.first_value(text)
            except ValueError:
                continue
            found = usage_from_object(value)
            if found is not None:
                return found
        return None


def _carries_nothing_else(chunk: dict[str, Any]) -> bool:
    """OpenAI ends with `choices: []`; LiteLLM's usage chunk has `choices: [{"index": 0, "delta": {}}]`
    (measured, 1.108.7): either way no content, role, tool call, finish reason or logprobs."""
    return all(isinstance(choice, dict) and not choice.get("delta") and not choice.get("finish_reason")
               and not choice.get("logprobs") and not choice.get("text") for choice in chunk["choices"])


class SseUsage:
    """Feed SSE bytes; `feed` returns the bytes to pass on (everything, unless `strip_added_usage`)."""

    def __init__(self, strip_added_usage: bool = False) -> None:
        self._strip = strip_added_usage
        self._pending = b""
        self._searched = 0  # bytes of _pending known to hold no event end: each byte is searched once
        self._prompt: int | None = None
        self._completion: int | None = None
        self._overflowed = False

    def feed(self, chunk: bytes) -> bytes:
        if self._overflowed:
            return chunk
        self._pending += chunk
        out: list[bytes] = []
        while (end := _EVENT_END.search(self._pending, self._searched)) is not None:
            event, self._pending = self._pending[:end.end()], self._pending[end.end():]
            self._searched = 0
            out.append(self._event(event, end.end() - end.start()))
        self._searched = max(0, len(self._pending) - 3)  # an end may straddle chunks (\r\n\r\n)
        if len(self._pending) > MAX_EVENT_BYTES:
            self._overflowed = True
            out.append(self._pending)
            self._pending = b""
        return b"".join(out)

    def flush(self) -> bytes:
        """At the end of the stream: whatever is left is passed on (and read if it is a whole event)."""
        rest, self._pending = self._pending, b""
        return self._event(rest, 0) if rest and not self._overflowed else rest

    def usage(self) -> Usage | None:
        if self._prompt is None and self._completion is None:
            return None
        return Usage(self._prompt or 0, self._completion or 0)

    def _event(self, event: bytes, terminator_len: int) -> bytes:
        payload = self._data(event[:len(event) - terminator_len])
        if payload is None or b'"usage"' not in payload:
            return event
        try:
            message = json_scan.loads(payload)
        except ValueError:
            return event
        if not isinstance(message, dict):
            return event
        self._take(message)
        if not self._strip or "usage" not in message or not isinstance(message.get("choices"), list):
            return event  # only OpenAI chunks (chat, completions) ever get a usage chunk added
        if message["usage"] is not None and _carries_nothing_else(message):
            return b""  # the usage-only chunk the client did not ask for
        del message["usage"]  # `null` on the other chunks; usage folded into a chunk that carries more
        return b"data: " + json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"

    @staticmethod
    def _data(event: bytes) -> bytes | None:
        lines = [line[5:].lstrip(b" ") for line in event.splitlines() if line.startswith(b"data:")]
        return b"\n".join(lines) if lines else None

    def _take(self, message: dict[str, Any]) -> None:
        source = message.get("usage")
        if message.get("type") == "message_start" and isinstance(message.get("message"), dict):
            source = message["message"].get("usage")  # Anthropic: input tokens come first...
        elif isinstance(message.get("response"), dict) and "usage" in message["response"]:
            source = message["response"]["usage"]  # Responses API: response.completed
        found = usage_from_object(source)
        if found is None:
            return
        # ...and message_delta carries the running output count: the latest value of each wins.
        if isinstance(source, dict) and ("prompt_tokens" in source or "input_tokens" in source):
            self._prompt = found.prompt_tokens
        if isinstance(source, dict) and ("completion_tokens" in source or "output_tokens" in source):
            self._completion = found.completion_tokens
