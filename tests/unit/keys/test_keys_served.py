"""What a stream is booked ("Keys that hold" §2): the upstream's usage once it has come, the state in which the
relay reads on for it after the client has left, and the estimate from what went by when it never comes."""

import json
import math

import pytest

from metering.usage import BYTES_PER_TOKEN, SseUsage, Usage, estimate


def sse(*messages: object, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return b"".join(head + b"data: " + (m if isinstance(m, bytes) else json.dumps(m).encode()) + b"\n\n"
                    for m in messages)


def chunk(content: str | None = None, finish: str | None = None, **delta: object) -> dict:
    if content is not None:
        delta["content"] = content
    return {"id": "x", "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], "usage": None}


USAGE = {"id": "x", "choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 9, "total_tokens": 49}}
WORDS = ["Hello", ", wor", "ld"]  # 12 bytes of text


def fed(reader: SseUsage, data: bytes, size: int = 1 << 20) -> bytes:
    return b"".join(reader.feed(data[i:i + size]) for i in range(0, len(data), size))


def test_estimate_rounds_sizes_up_at_four_bytes_a_token() -> None:
    assert BYTES_PER_TOKEN == 4
    assert estimate(401, 9, None, None) == Usage(101, 3, estimated=True)
    assert estimate(0, 0, None, None) == Usage(0, 0, estimated=True)


def test_estimate_keeps_what_the_stream_reported() -> None:
    """Anthropic's message_start gives the prompt's tokens (kept) and a first output count (a floor)."""
    assert estimate(10_000, 40, 25, 1) == Usage(25, 10, estimated=True)
    assert estimate(10_000, 4, 25, 7) == Usage(25, 7, estimated=True)


@pytest.mark.parametrize("size", [1, 7, 1 << 20])
def test_an_openai_stream_awaits_its_usage_from_the_finish_chunk_on(size: int) -> None:
    reader = SseUsage(strip_added_usage=True)
    fed(reader, sse(*(chunk(word) for word in WORDS)), size)
    assert not reader.awaiting_usage  # mid-generation: a client leaving now stops the upstream
    fed(reader, sse(chunk(finish="stop")), size)
    assert reader.awaiting_usage  # the client has the whole answer; the usage chunk comes next
    assert fed(reader, sse(USAGE, b"[DONE]"), size) == b"data: [DONE]\n\n"
    assert not reader.awaiting_usage
    assert reader.served(10_000) == Usage(40, 9)  # the upstream's own count: no estimate


def test_the_usage_read_on_after_the_client_left_is_booked() -> None:
    """What the relay does once the client has gone: it keeps feeding, for nobody, until the usage is in."""
    reader = SseUsage(strip_added_usage=True)
    reader.feed(sse(*(chunk(word) for word in WORDS), chunk(finish="stop")))
    while reader.awaiting_usage:  # the relay's read-on loop
        reader.feed(sse(USAGE))
    assert reader.served(123) == Usage(40, 9)


def test_a_client_leaving_mid_generation_is_booked_an_estimate() -> None:
    reader = SseUsage(strip_added_usage=True)
    reader.feed(sse(chunk("", role="assistant"), *(chunk(word) for word in WORDS)))
    assert not reader.awaiting_usage and reader.usage() is None
    assert reader.served(1_001) == Usage(math.ceil(1_001 / 4), 3, estimated=True)


def test_generated_text_counts_in_utf8_bytes_with_tool_calls_and_reasoning() -> None:
    call = {"index": 0, "id": "c", "type": "function", "function": {"name": "lookup", "arguments": '{"q": 1}'}}
    reader = SseUsage()
    reader.feed(sse(chunk("né"), chunk(reasoning_content="why"), chunk(tool_calls=[call]),
                    {"id": "l", "object": "text_completion", "choices": [{"text": "abcd", "index": 0}]}))
    assert reader.served(0) == Usage(0, math.ceil((3 + 3 + 8 + 4) / 4), estimated=True)


def test_a_stream_that_ends_without_usage_is_estimated_and_one_that_served_nothing_is_not() -> None:
    reader = SseUsage()
    fed(reader, sse(chunk("abcdefgh"), chunk(finish="stop"), b"[DONE]"))
    assert reader.served(40) == Usage(10, 2, estimated=True)  # e.g. a provider that ignores include_usage
    empty = SseUsage()
    empty.feed(sse(chunk("", role="assistant")))
    assert empty.served(40) is None  # no text went by: nothing served, nothing booked but the request


def test_running_usage_before_the_finish_is_not_the_final_count() -> None:
    reader = SseUsage()
    running = {**chunk("abcd"), "usage": {"prompt_tokens": 40, "completion_tokens": 1}}
    reader.feed(sse(running, chunk(finish="stop")))
    assert reader.awaiting_usage
    assert reader.served(0) == Usage(40, 1, estimated=True)
    folded = SseUsage()  # the usage in the finish chunk itself: complete at once
    folded.feed(sse(running, {**chunk(finish="stop"), "usage": USAGE["usage"]}))
    assert not folded.awaiting_usage and folded.served(0) == Usage(40, 9)


ANTHROPIC_START = {"type": "message_start", "message": {"usage": {"input_tokens": 25, "output_tokens": 1}}}


def anthropic_delta(text: str) -> dict:
    return {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}


def test_anthropic_usage_comes_with_its_end() -> None:
    reader = SseUsage()
    reader.feed(sse(ANTHROPIC_START, event="message_start") + sse(anthropic_delta("x" * 40)))
    assert not reader.awaiting_usage
    reader.feed(sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                     "usage": {"output_tokens": 12}}, event="message_delta"))
    assert not reader.awaiting_usage  # message_delta carries the output count: nothing to wait for
    assert reader.served(10_000) == Usage(25, 12)


def test_anthropic_left_mid_generation_keeps_its_prompt_count_and_estimates_the_rest() -> None:
    reader = SseUsage()
    reader.feed(sse(ANTHROPIC_START, anthropic_delta("x" * 40),
                    {"type": "content_block_delta", "index": 1,
                     "delta": {"type": "input_json_delta", "partial_json": '{"a":'}}))
    assert reader.served(10_000) == Usage(25, math.ceil(45 / 4), estimated=True)


def responses_event(kind: str, **fields: object) -> bytes:
    return sse({"type": kind, **fields}, event=kind)


@pytest.mark.parametrize("end", ["response.output_text.done", "response.output_item.done"])
def test_responses_api_awaits_response_completed(end: str) -> None:
    reader = SseUsage()
    reader.feed(responses_event("response.created", response={"usage": None})
                + responses_event("response.output_text.delta", delta="abcdefgh"))
    assert not reader.awaiting_usage
    reader.feed(responses_event(end, text="abcdefgh", item={"content": [{"text": "abcdefgh"}]}))
    assert reader.awaiting_usage
    assert reader.served(400) == Usage(100, 2, estimated=True)  # the .done events' copies are not counted
    reader.feed(responses_event("response.completed", response={"usage": {"input_tokens": 9, "output_tokens": 3}}))
    assert not reader.awaiting_usage and reader.served(400) == Usage(9, 3)


def test_an_overflowed_stream_is_not_waited_for() -> None:
    reader = SseUsage()
    reader.feed(sse(chunk("abcd"), chunk(finish="stop")))
    reader.feed(b"data: " + b"x" * (1 << 21))  # an event past MAX_EVENT_BYTES: the rest passes unread
    assert not reader.awaiting_usage


def test_delta_text_is_measured_decoded_whatever_it_contains() -> None:
    """Anthropic and Responses deltas are read without parsing the event: their text strings, decoded."""
    tricky = 'he said "text": "x"\n\\ é'  # quotes, an inner "text" member, an escape, 2 UTF-8 bytes
    for ensure_ascii in (True, False):
        reader = SseUsage()
        event = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": tricky}}
        reader.feed(b"data: " + json.dumps(event, ensure_ascii=ensure_ascii).encode() + b"\n\n")
        reader.feed(responses_event("response.function_call_arguments.delta", delta="{}", item_id="i"))
        size = len(tricky.encode()) + 2
        assert reader.served(0) == Usage(0, math.ceil(size / 4), estimated=True)
