"""Usage read from bodies and streams in whatever chunks they arrive, and the cost of a request."""

import json

import pytest

from metering.pricing import Price, prices_from_model_info, request_cost
from metering.usage import JSON_TAIL_BYTES, JsonUsage, SseUsage, Usage

CHAT = {"id": "c1", "object": "chat.completion", "choices": [{"message": {"content": 'say "usage": {"x": 1}'}}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}
EMBEDDINGS = {"object": "list", "data": [{"embedding": [0.1] * 3000}], "model": "e",
              "usage": {"prompt_tokens": 5, "total_tokens": 5}}
RESPONSES = {"id": "r", "object": "response", "output": [], "tools": [],
             "usage": {"input_tokens": 9, "output_tokens": 4, "total_tokens": 13}, "user": None, "metadata": {}}
MESSAGES = {"id": "m", "type": "message", "content": [{"type": "text", "text": "hi"}],
            "usage": {"input_tokens": 3, "cache_read_input_tokens": 10, "cache_creation_input_tokens": 2,
                      "output_tokens": 6}}


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize(("body", "expected"), [
    (CHAT, Usage(11, 7)), (EMBEDDINGS, Usage(5, 0)), (RESPONSES, Usage(9, 4)), (MESSAGES, Usage(15, 6)),
    ({"error": {"message": "no"}}, None),
])
@pytest.mark.parametrize("size", [1, 7, 1 << 20])
def test_json_usage_in_any_chunking(body: dict, expected: Usage | None, size: int) -> None:
    reader = JsonUsage()
    for piece in chunked(json.dumps(body).encode(), size):
        reader.feed(piece)
    assert reader.usage() == expected


def test_json_keeps_only_a_tail() -> None:
    reader = JsonUsage()
    reader.feed(json.dumps(EMBEDDINGS | {"data": [{"embedding": [0.5] * 50_000}]}).encode())
    assert len(reader._tail) == JSON_TAIL_BYTES
    assert reader.usage() == Usage(5, 0)


def sse(*messages: object) -> bytes:
    return b"".join(b"data: " + (m if isinstance(m, bytes) else json.dumps(m).encode()) + b"\n\n" for m in messages)


DELTAS = [{"id": "x", "choices": [{"index": 0, "delta": {"content": word}}]} for word in ("Hel", "lo")]
FINAL = {"id": "x", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
USAGE_CHUNK = {"id": "x", "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}}


@pytest.mark.parametrize("size", [1, 5, 64, 1 << 20])
def test_openai_stream_usage_passes_through_untouched(size: int) -> None:
    stream = sse(*DELTAS, FINAL, USAGE_CHUNK, b"[DONE]")
    reader = SseUsage()
    out = b"".join(reader.feed(piece) for piece in chunked(stream, size)) + reader.flush()
    assert out == stream
    assert reader.usage() == Usage(12, 2)


@pytest.mark.parametrize("size", [1, 9, 1 << 20])
def test_an_added_usage_chunk_is_removed(size: int) -> None:
    with_nulls = [{**chunk, "usage": None} for chunk in (*DELTAS, FINAL)]
    stream = sse(*with_nulls, USAGE_CHUNK, b"[DONE]")
    reader = SseUsage(strip_added_usage=True)
    out = b"".join(reader.feed(piece) for piece in chunked(stream, size)) + reader.flush()
    events = [e for e in out.split(b"\n\n") if e]
    assert [json.loads(e[6:]) if e != b"data: [DONE]" else "DONE" for e in events] == [*DELTAS, FINAL, "DONE"]
    assert reader.usage() == Usage(12, 2)



LITELLM_USAGE_CHUNK = {"id": "x", "choices": [{"index": 0, "delta": {}}],  # LiteLLM 1.108.7's shape
                       "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14, "cost": 2e-6}}


def test_litellms_usage_chunk_with_an_empty_choice_is_removed() -> None:
    reader = SseUsage(strip_added_usage=True)
    out = reader.feed(sse(*DELTAS, FINAL, LITELLM_USAGE_CHUNK, b"[DONE]")) + reader.flush()
    events = [e for e in out.split(b"\n\n") if e]
    assert [json.loads(e[6:]) if e != b"data: [DONE]" else "DONE" for e in events] == [*DELTAS, FINAL, "DONE"]
    assert reader.usage() == Usage(12, 2)


def test_usage_folded_into_a_chunk_with_content_keeps_the_content() -> None:
    folded = {**FINAL, "usage": LITELLM_USAGE_CHUNK["usage"]}
    reader = SseUsage(strip_added_usage=True)
    out = reader.feed(sse(*DELTAS, folded, b"[DONE]")) + reader.flush()
    events = [json.loads(e[6:]) for e in out.split(b"\n\n") if e and e != b"data: [DONE]"]
    assert events == [*DELTAS, FINAL]
    assert reader.usage() == Usage(12, 2)


def test_stripping_leaves_anthropic_events_alone() -> None:
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}}
    stream = b"event: message_delta\ndata: " + json.dumps(delta).encode() + b"\n\n"
    reader = SseUsage(strip_added_usage=True)
    assert reader.feed(stream) + reader.flush() == stream


def test_anthropic_stream_usage_from_start_and_deltas() -> None:
    events = [
        ("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 25, "output_tokens": 1}}}),
        ("content_block_delta", {"type": "content_block_delta", "delta": {"text": "usage"}}),
        ("message_delta", {"type": "message_delta", "usage": {"output_tokens": 8}}),
        ("message_delta", {"type": "message_delta", "usage": {"output_tokens": 15}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    stream = b"".join(f"event: {name}\r\ndata: {json.dumps(data)}\r\n\r\n".encode() for name, data in events)
    reader = SseUsage()
    out = b"".join(reader.feed(piece) for piece in chunked(stream, 3)) + reader.flush()
    assert out == stream
    assert reader.usage() == Usage(25, 15)


def test_responses_stream_usage_from_completed_event() -> None:
    completed = {"type": "response.completed", "response": {"usage": {"input_tokens": 4, "output_tokens": 2}}}
    reader = SseUsage()
    reader.feed(b"event: response.completed\n" + sse(completed))
    assert reader.usage() == Usage(4, 2)


def test_a_cut_stream_keeps_what_was_seen_and_passes_the_rest_on() -> None:
    reader = SseUsage()
    assert reader.feed(sse(DELTAS[0]) + b'data: {"choi') == sse(DELTAS[0])
    assert reader.flush() == b'data: {"choi'
    assert reader.usage() is None


def test_prices_from_model_info_and_costs() -> None:
    info = {"data": [
        {"model_name": "gpt-4o", "model_info": {"input_cost_per_token": 2.5e-6, "output_cost_per_token": 1e-5}},
        {"model_name": "gpt-4o", "model_info": {"input_cost_per_token": 9.0}},
        {"model_name": "free", "model_info": {"input_cost_per_token": None}},
        {"model_info": {}}, "junk",
    ]}
    prices = prices_from_model_info(info)
    assert prices == {"gpt-4o": Price(2.5e-6, 1e-5), "free": Price()}
    assert request_cost("0.0042", "gpt-4o", Usage(100, 10), prices) == 0.0042  # LiteLLM's figure wins
    assert request_cost(None, "gpt-4o", Usage(100, 10), prices) == pytest.approx(100 * 2.5e-6 + 10 * 1e-5)
    assert request_cost("0", "gpt-4o", Usage(100, 10), prices) == pytest.approx(3.5e-4)  # 0 for known tokens
    assert request_cost("nan", "unknown", Usage(1, 1), prices) == 0.0
    assert prices_from_model_info(["not", "a", "dict"]) == {}


def test_a_responses_answer_names_its_id_first_in_json_and_in_its_first_event() -> None:
    body = JsonUsage()
    for piece in (b'{"id": "resp_', b'abc+/=", "object": "response", "output": []', b', "usage": {"input_tokens": 1}}'):
        body.feed(piece)
    assert body.response_id() == "resp_abc+/="
    other = JsonUsage()
    other.feed(b'{"object": "list", "id": "x"}')  # not at the head: not a created response
    assert other.response_id() is None
    stream = SseUsage()
    stream.feed(b'event: response.created\ndata: {"type":"response.created","response":{"id":"resp_s"}}\n\n')
    stream.feed(b'event: response.created\ndata: {"type":"response.created","response":{"id":"resp_t"}}\n\n')
    assert stream.response_id == "resp_s"  # the first one: later events never rename it
