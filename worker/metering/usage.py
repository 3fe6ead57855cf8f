"""Token usage read from responses as they pass, without holding a body or a stream.

- JSON answers: `usage` is the last or nearly last member of every format the gateway forwards (chat,
  completions, embeddings, responses, messages), so only the body's tail is kept.
- Server-sent events: one event is held at a time (until its blank line); the usage is the final
  OpenAI chunk, Anthropic's `message_start` + `message_delta`, or the Responses API's
  `response.completed`. When the gateway itself added `stream_options.include_usage`, the usage-only
  chunk it caused is removed (and `"usage": null` from the other chunks), so the client gets what it
  asked for.
- What was served is what is booked: once a stream's end has gone by (a `finish_reason`, the Responses API's
  text, tool call or output item done) its usage is still to come, and the relay reads on for it after the
  client has left (`awaiting_usage`, USAGE_WAIT_S); Anthropic's end, `message_delta`, carries it. A stream
  over without its final usage (the client left mid-generation, the upstream was cut, the usage never came)
  is booked an estimate from what went by (`estimate`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from metering.generated import choices_text_bytes, delta_text_bytes, plain_chunk_bytes
from rules import json_scan

JSON_TAIL_BYTES = 65_536
MAX_EVENT_BYTES = 1_048_576  # a larger event is passed on unread (and the stream no longer filtered)
# After a stream's end has been relayed, how long its upstream is read on for the usage once the client has
# left: providers send it within milliseconds (LiteLLM 1.108.7: 6-12 ms after the finish chunk, measured).
USAGE_WAIT_S = 5.0
BYTES_PER_TOKEN = 4  # the estimate's rate: ~4 bytes of English text per token for OpenAI's and Anthropic's
_USAGE_KEY = re.compile(rb'(?<!\\)"usage"\s*:\s*\{')
# An event ends at a blank line (\n\n, \r\n\r\n, or mixed). The pattern starts at the newline, a literal (a leading
# optional \r makes re try every byte: ~6 µs instead of ~1 µs a chunk in Pyodide); a \r before it is looked back for.
_EVENT_END = re.compile(rb"\n\r?\n")
# Anthropic's and the Responses API's text deltas: only their text is read (a JSON string cannot nest, so it
# is decoded on its own: a whole-event parse costs ~4x more in Pyodide).
_TEXT_DELTA = re.compile(rb'"type"\s*:\s*"(?:content_block_delta|response\.[a-z_.]+\.delta)"')
# A Responses API answer begins with its id (LiteLLM's model puts `id` first); a stream names it in the first event.
_HEAD_BYTES = 4096
_HEAD_ID = re.compile(rb'^\s*\{\s*"id"\s*:\s*"([^"\\]{1,1024})"')
_CREATED = b'"response.created"'
_STREAM_ENDS = frozenset({"message_delta", "response.output_text.done", "response.function_call_arguments.done",
                          "response.output_item.done", "response.completed", "response.incomplete",
                          "response.failed"})


def tokens_in(size: int) -> int:
    """Tokens estimated from a size in bytes (BYTES_PER_TOKEN, rounded up): the one rule for every estimate —
    what a stream served without reporting it, and what an admission reserves for a prompt."""
    return math.ceil(max(0, size) / BYTES_PER_TOKEN)


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failed: bool = False
    estimated: bool = False  # not the upstream's count: `estimate` from what went by

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def estimate(request_bytes: int, generated_bytes: int, prompt: int | None, completion: int | None) -> Usage:
    """The usage of a stream that ended without its own: what the stream reported so far (Anthropic's
    `message_start` gives the prompt's tokens first), the rest from sizes at BYTES_PER_TOKEN, rounded up.

    - prompt: the request body's bytes / 4. High by the JSON around the text (~25 tokens a request, ~8 a
      message); far too high for base64 media (an image costs ~85-1,100 tokens, its base64 counts ~1 per 3
      bytes); non-ASCII text escaped as \\uXXXX counts 1.5 tokens a character.
    - completion: the UTF-8 bytes of the generated text relayed (content, tool-call arguments, reasoning
      text) / 4. English prose ±15 %; code and CJK text count low (~25 %); hidden reasoning tokens, which
      are billed but never streamed, are missed.
    """
    estimated_prompt = tokens_in(request_bytes)
    estimated_completion = tokens_in(generated_bytes)
    return Usage(estimated_prompt if prompt is None else prompt,
                 max(completion or 0, estimated_completion), estimated=True)


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

    awaiting_usage = False  # never read on once the client has left: the whole body is the answer
    holds_back = False  # every chunk passes on as it came: nothing for `flush` to give

    def __init__(self) -> None:
        self._tail = b""
        self._head = b""

    def feed(self, chunk: bytes) -> None:  # None: the chunk itself passes on untouched
        self._tail = (self._tail + chunk)[-JSON_TAIL_BYTES:]
        if len(self._head) < _HEAD_BYTES:
            self._head += chunk[:_HEAD_BYTES - len(self._head)]

    def response_id(self) -> str | None:
        """The id the answer begins with (a stored response's, when the request created one)."""
        found = _HEAD_ID.match(self._head)
        return None if found is None else found.group(1).decode("utf-8", "replace")

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

    holds_back = True  # an event split across chunks waits for its end: `flush` gives what is left of it

    def __init__(self, strip_added_usage: bool = False) -> None:
        self._strip = strip_added_usage
        self._pending = b""
        self._searched = 0  # bytes of _pending known to hold no event end: each byte is searched once
        self._prompt: int | None = None
        self._completion: int | None = None
        self._overflowed = False
        self._generated = 0  # UTF-8 bytes of generated text gone by, for `estimate`
        self._ended = False  # the stream's end has gone by (finish_reason, message_delta, an output item done)
        self._complete = False  # and the usage that comes with or after it too: the upstream's own count
        self.response_id: str | None = None  # the Responses API's `response.created` names the response

    def feed(self, chunk: bytes) -> bytes:
        if self._overflowed:
            return chunk
        self._pending += chunk
        out: list[bytes] = []
        while (end := _EVENT_END.search(self._pending, self._searched)) is not None:
            start = end.start() - (self._pending[end.start() - 1:end.start()] == b"\r")
            event, self._pending = self._pending[:end.end()], self._pending[end.end():]
            self._searched = 0
            out.append(self._event(event, end.end() - start))
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
        """What the stream reported, if anything."""
        if self._prompt is None and self._completion is None:
            return None
        return Usage(self._prompt or 0, self._completion or 0)

    @property
    def awaiting_usage(self) -> bool:
        """The answer's end has gone by and its usage is still to come: worth reading on for, client or not."""
        return self._ended and not self._complete and not self._overflowed

    def served(self, request_bytes: int) -> Usage | None:
        """What to book: the upstream's usage when it came with or after the stream's end, else an estimate
        from what went by (`request_bytes`: the request body's size), or None when no text went by and
        nothing was reported (nothing was served)."""
        if self._complete or self._generated == 0:
            return self.usage()
        return estimate(request_bytes, self._generated, self._prompt, self._completion)

    def _event(self, event: bytes, terminator_len: int) -> bytes:
        payload = self._data(event[:len(event) - terminator_len])
        if payload is None:
            return event
        if b'"usage"' not in payload:
            if _TEXT_DELTA.search(payload) is not None:
                self._generated += delta_text_bytes(payload)
                return event
            if _CREATED not in payload and (plain := plain_chunk_bytes(payload)) is not None:
                self._generated += plain  # all a plain content chunk adds: no end, no usage, no id
                return event
            if b'"choices"' not in payload and b'.done"' not in payload and _CREATED not in payload:
                return event  # nothing generated, no end, no usage (pings, starts, stops)
        try:
            message = json_scan.loads(payload)
        except ValueError:
            return event
        if not isinstance(message, dict):
            return event
        self._generated += choices_text_bytes(message)
        if self.response_id is None and message.get("type") == "response.created":
            self.response_id = _response_id(message.get("response"))
        self._ended = self._ended or _ends_stream(message)
        if self._take(message) and self._ended:
            self._complete = True
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

    def _take(self, message: dict[str, Any]) -> bool:
        """Whether the message carried usage (then kept)."""
        source = message.get("usage")
        if message.get("type") == "message_start" and isinstance(message.get("message"), dict):
            source = message["message"].get("usage")  # Anthropic: input tokens come first...
        elif isinstance(message.get("response"), dict) and "usage" in message["response"]:
            source = message["response"]["usage"]  # Responses API: response.completed
        found = usage_from_object(source)
        if found is None:
            return False
        # ...and message_delta carries the running output count: the latest value of each wins.
        if isinstance(source, dict) and ("prompt_tokens" in source or "input_tokens" in source):
            self._prompt = found.prompt_tokens
        if isinstance(source, dict) and ("completion_tokens" in source or "output_tokens" in source):
            self._completion = found.completion_tokens
        return True


def _response_id(response: Any) -> str | None:
    found = response.get("id") if isinstance(response, dict) else None
    return found if isinstance(found, str) and 0 < len(found) <= 1024 else None


def _ends_stream(message: dict[str, Any]) -> bool:
    """The generation is over: an OpenAI choice's `finish_reason` (chat and legacy completions), Anthropic's
    `message_delta` (which carries the output count itself), the Responses API's text, tool call or output item
    done, or the response. A Responses answer with several items ends more than once: reading on for the usage
    after the first costs at most USAGE_WAIT_S of the rest."""
    choices = message.get("choices")
    if isinstance(choices, list):
        return any(isinstance(choice, dict) and bool(choice.get("finish_reason")) for choice in choices)
    return message.get("type") in _STREAM_ENDS
