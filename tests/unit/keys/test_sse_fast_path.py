"""LiteLLM's plain content chunks are counted from their bytes, not parsed (issue 20 §2): the count, the end,
the usage and the bytes passed on must be what the whole parse gives, for every shape and every split."""

import json

import pytest

from metering.generated import choices_text_bytes
from metering.usage import SseUsage

# As LiteLLM 1.108.7 sends them (compact; captured through the fake provider), and shapes next to them.
LITELLM = ('{"id":"chatcmpl-1","created":1796306240,"model":"bench-stream","object":"chat.completion.chunk",'
           '"system_fingerprint":"fp_fake","choices":[{"index":0,"delta":%s}],"x_sent_at":1796306240.79}')
DELTAS = [
    '{"content":"ech","role":"assistant"}', '{"content":"o: "}', '{"role":"assistant"}', '{}',
    '{"content":""}', '{"content":"né ✓ 😀"}', '{"content":"a\\"b\\\\c\\n\\u00e9\\ud83d\\ude00"}',
    '{"content":"\\ud800 lone"}', '{"content":"}}] \\"choices\\":[{"}', '{"content":null}',
    '{"content":"x","tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}',
    '{"reasoning_content":"why"}', '{"content":"x","role":"assistant","refusal":"no"}',
]


def slow_count(payloads: list[bytes]) -> int:
    """What the whole parse counts (the path every other chunk takes)."""
    total = 0
    for payload in payloads:
        total += choices_text_bytes(json.loads(payload))
    return total


def stream(*payloads: bytes, newline: bytes = b"\n") -> bytes:
    return b"".join(b"data: " + p + newline + newline for p in payloads)


@pytest.mark.parametrize("delta", DELTAS)
def test_each_shape_counts_what_the_parse_counts(delta: str) -> None:
    payload = (LITELLM % delta).encode()
    reader = SseUsage()
    assert reader.feed(stream(payload)) == stream(payload)  # passed on as it came
    assert reader._generated == slow_count([payload])
    assert not reader.awaiting_usage and reader.usage() is None


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
@pytest.mark.parametrize("size", [1, 2, 3, 5, 64, 1 << 20])
def test_a_whole_stream_split_anywhere(newline: bytes, size: int) -> None:
    contents = [(LITELLM % d).encode() for d in DELTAS]
    finish = (LITELLM % "{}").replace('{"index":0', '{"finish_reason":"stop","index":0').encode()
    final = (b'{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{}}],'
             b'"usage":{"completion_tokens":11,"prompt_tokens":10,"total_tokens":21}}')
    data = stream(*contents, finish, newline=newline)
    reader = SseUsage()
    out = b"".join(reader.feed(data[i:i + size]) for i in range(0, len(data), size))
    assert out == data
    assert reader._generated == slow_count(contents)
    assert reader.awaiting_usage  # the finish chunk still ends the stream
    assert reader.feed(stream(final, b"[DONE]", newline=newline)) == stream(final, b"[DONE]", newline=newline)
    assert reader.served(400).prompt_tokens == 10 and reader.served(400).completion_tokens == 11
    assert not reader.served(400).estimated


def test_an_added_usage_chunk_is_still_stripped() -> None:
    content = (LITELLM % '{"content":"hi"}').encode()
    final = (b'{"id":"c","object":"chat.completion.chunk","choices":[],'
             b'"usage":{"prompt_tokens":1,"completion_tokens":1}}')
    reader = SseUsage(strip_added_usage=True)
    assert reader.feed(stream(content, final)) == stream(content)
    assert reader.usage() is not None and reader._generated == 2


def test_a_nested_choices_is_parsed() -> None:
    """Only one top-level-looking `choices`: anything else takes the whole parse."""
    payload = (LITELLM % '{"content":"abc"}').replace('"x_sent_at"', '"echo":{"choices":[]},"x"').encode()
    reader = SseUsage()
    reader.feed(stream(payload))
    assert reader._generated == slow_count([payload]) == 3


@pytest.mark.parametrize("text", [r"a\xzz", "\\ud800", r"ok\"\\"])
def test_an_escape_json_lacks_never_escapes_the_meter(text: str) -> None:
    """A chunk of the plain shape whose text is not JSON after all (a bad escape, a lone surrogate) is left to the
    whole parse, which passes it on unread: the stream goes on, nothing raises."""
    event = ('data: {"choices":[{"index":0,"delta":{"content":"' + text + '"}}]}\n\n').encode()
    stream = SseUsage()
    assert stream.feed(event) == event
    assert stream.flush() == b""
