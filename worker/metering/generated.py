"""The text a stream generated, in UTF-8 bytes: what `metering.usage.estimate` books for a stream that ended
without its usage. Read from each chunk as cheaply as its shape allows: the usual chunk is counted from its bytes,
every other one from its parse (metering.usage reads ends, usage and ids there too)."""

from __future__ import annotations

import json
import re
from typing import Any

# LiteLLM's content chunk: one choice, its delta the text (and the role, first) and nothing else: no finish_reason,
# tool call or logprobs. Counted from the bytes: parsing the whole chunk costs ~8x that in Pyodide, per chunk.
_PLAIN_CHOICES = re.compile(rb'"choices":\[\{"index":\d+,"delta":\{(?:"content":("(?:[^"\\]|\\.)*")'
                            rb'(?:,"role":"[a-z]+")?|"role":"[a-z]+")?\}\}\]')
# Anthropic's and the Responses API's text deltas: a JSON string cannot nest, so it is decoded on its own.
_DELTA_TEXT = re.compile(rb'"(?:text|partial_json|thinking|delta)"\s*:\s*("(?:[^"\\]|\\.)*")')


def plain_chunk_bytes(payload: bytes) -> int | None:
    """The text of an OpenAI chunk of LiteLLM's plain content shape, or None for any other shape, whose whole
    parse decides. One `choices` in all: a second one could be the top-level one the parse would read."""
    plain = _PLAIN_CHOICES.search(payload)
    if plain is None or payload.count(b'"choices"') != 1:
        return None
    text = plain.group(1)
    if text is None:  # a role alone, or an empty delta
        return 0
    if b"\\" not in text:
        return len(text) - 2  # the bytes are UTF-8 already
    try:
        return size(json.loads(text))
    except ValueError:  # an escape JSON does not have (`\x`): not this shape after all, the whole parse decides
        return None


def choices_text_bytes(message: dict[str, Any]) -> int:
    """UTF-8 bytes of the text an OpenAI chunk adds: content, reasoning, refusal, tool-call arguments (chat),
    `text` (legacy completions)."""
    choices = message.get("choices")
    total = 0
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, dict):
            continue
        total += size(choice.get("text"))
        delta = choice.get("delta")
        if isinstance(delta, dict):
            total += size(delta.get("content")) + size(delta.get("reasoning_content")) + size(delta.get("refusal"))
            calls = delta.get("tool_calls")
            for call in calls if isinstance(calls, list) else ():
                function = call.get("function") if isinstance(call, dict) else None
                total += size(function.get("arguments")) if isinstance(function, dict) else 0
    return total


def delta_text_bytes(payload: bytes) -> int:
    """UTF-8 bytes of the text in an Anthropic `content_block_delta` (text, tool input JSON, thinking) or a
    Responses API `*.delta`; never its `.done` events or `response.completed`, which repeat what came."""
    total = 0
    for raw in _DELTA_TEXT.findall(payload):
        try:
            total += size(json.loads(raw))
        except ValueError:
            total += len(raw)
    return total


def size(value: Any) -> int:
    return len(value.encode("utf-8", "replace")) if isinstance(value, str) else 0
