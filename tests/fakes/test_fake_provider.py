"""The fake provider on its own (no LiteLLM): every endpoint, behaviour and the stats it keeps."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import struct
import time
from collections.abc import Iterator

import httpx
import pytest

from .behaviours import Options, behaviour_for, embedding_for, split_text
from .provider_process import FakeProvider

SLOW_MS = 300


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider.start(slow_ms=SLOW_MS, chunks=3) as provider:
        yield provider


@pytest.fixture
def client(fake: FakeProvider) -> Iterator[httpx.Client]:
    fake.reset()
    with httpx.Client(base_url=fake.url, timeout=10.0) as c:
        yield c


def chat(model: str, text: str, **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def sse_events(raw: str) -> list[tuple[str | None, str]]:
    """(event name, data) pairs of an SSE body."""
    events = []
    for block in raw.strip().split("\n\n"):
        name, data = None, ""
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = line.removeprefix("data: ")
        events.append((name, data))
    return events


def test_behaviour_parsing() -> None:
    opts = Options(slow_ms=1234, chunk_delay_ms=5, chunks=4)
    assert behaviour_for("gpt-4o", opts) == behaviour_for("", opts)
    assert behaviour_for("gpt-fail-500", opts).fail_500
    assert behaviour_for("gpt-fail-429", opts).fail_429
    assert behaviour_for("gpt-slow", opts).slow_ms == 1234
    assert behaviour_for("gpt-slow50", opts).slow_ms == 50
    assert behaviour_for("gpt-delay300", opts).chunk_delay_ms == 300
    assert behaviour_for("gpt-4o", opts).chunk_delay_ms == 5
    assert behaviour_for("gpt-chunks9-cut", opts).chunks == 9
    assert behaviour_for("gpt-chunks9-cut", opts).cut
    assert behaviour_for("gpt-hang", opts).hang
    assert split_text("abcdefg", 3) == ["abc", "de", "fg"]
    assert split_text("ab", 5) == ["a", "b"]


def test_chat_plain_echoes_marker_and_records_stats(fake: FakeProvider, client: httpx.Client) -> None:
    r = client.post("/v1/chat/completions", json=chat("gpt-x", "marker-1"), headers={"authorization": "Bearer k"})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "echo: marker-1"
    assert body["usage"]["total_tokens"] > 0
    stats = fake.stats()
    assert stats["hits"] == {"gpt-x": 1}
    assert stats["total"] == 1
    (entry,) = stats["requests"]
    assert entry["path"] == "/v1/chat/completions"
    assert entry["marker"] == "marker-1"
    assert entry["authorization_present"] is True
    assert entry["body_sha256"] == hashlib.sha256(r.request.content).hexdigest()
    assert entry["body_bytes"] == len(r.request.content)
    assert entry["status"] == 200
    assert abs(entry["ts"] - time.time()) < 5


def test_chat_stream_chunks_usage_and_done(client: httpx.Client) -> None:
    payload = chat("gpt-x", "marker-stream", stream=True, stream_options={"include_usage": True})
    r = client.post("/v1/chat/completions", json=payload)
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(data) for _, data in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "echo: marker-stream"
    content_chunks = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(content_chunks) == 3  # --chunks 3
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert all(isinstance(c["x_sent_at"], float) for c in chunks)


def test_chunk_delay_from_model_name(client: httpx.Client) -> None:
    r = client.post("/v1/chat/completions", json=chat("gpt-delay100", "marker-d", stream=True))
    sent = [json.loads(d)["x_sent_at"] for _, d in sse_events(r.text)[:-1]]
    gaps = [b - a for a, b in itertools.pairwise(sent[:3])]
    assert len(gaps) == 2 and all(g >= 0.09 for g in gaps)


def test_legacy_completions_plain_and_stream(client: httpx.Client) -> None:
    r = client.post("/v1/completions", json={"model": "gpt-instruct", "prompt": "marker-c"})
    assert r.json()["choices"][0]["text"] == "echo: marker-c"
    r = client.post("/v1/completions", json={"model": "gpt-instruct", "prompt": ["x", "marker-cs"], "stream": True})
    events = sse_events(r.text)
    assert events[-1] == (None, "[DONE]")
    assert "".join(json.loads(d)["choices"][0]["text"] for _, d in events[:-1]) == "echo: marker-cs"


def test_embeddings_deterministic_float_and_base64(client: httpx.Client) -> None:
    r = client.post("/v1/embeddings", json={"model": "emb", "input": ["a", "b"]})
    data = r.json()["data"]
    assert [d["index"] for d in data] == [0, 1]
    assert data[0]["embedding"] == embedding_for("a") and len(data[0]["embedding"]) == 8
    assert data[0]["embedding"] != data[1]["embedding"]
    # The openai SDK (and so LiteLLM) asks for base64 by default.
    r = client.post("/v1/embeddings", json={"model": "emb", "input": "a", "encoding_format": "base64"})
    vector = struct.unpack("<8f", base64.b64decode(r.json()["data"][0]["embedding"]))
    assert vector == pytest.approx(embedding_for("a"), abs=1e-6)


def test_models_list(client: httpx.Client) -> None:
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert "gpt-4o-mini" in ids


def test_anthropic_plain_and_stream(fake: FakeProvider, client: httpx.Client) -> None:
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    body = {
        "model": "claude-x",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "marker-a"}]}],
    }
    r = client.post("/v1/messages", json=body, headers=headers)
    assert r.json()["content"] == [{"type": "text", "text": "echo: marker-a"}]
    assert r.json()["stop_reason"] == "end_turn"
    r = client.post("/v1/messages", json={**body, "stream": True}, headers=headers)
    events = sse_events(r.text)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    datas = [json.loads(d) for _, d in events]
    assert all(d["type"] == n for d, n in zip(datas, names, strict=True))
    assert "".join(d["delta"]["text"] for d in datas if d["type"] == "content_block_delta") == "echo: marker-a"
    assert datas[-2]["usage"]["output_tokens"] > 0
    assert fake.stats()["requests"][-1]["auth_scheme"] == "x-api-key"


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/v1/embeddings"])
def test_fail_500_and_429(client: httpx.Client, path: str) -> None:
    body = {**chat("gpt-fail-500", "m"), "input": "m", "max_tokens": 5}
    r = client.post(path, json=body)
    assert r.status_code == 500
    err = r.json()["error"]
    assert "fail-500" in err["message"]
    r = client.post(path, json={**body, "model": "gpt-fail-429"})
    assert r.status_code == 429
    assert r.headers["retry-after"] == "7"
    assert r.json()["error"]["type"] == "rate_limit_error"
    if path == "/v1/messages":
        assert r.json()["type"] == "error"


def test_slow_waits_slow_ms(client: httpx.Client) -> None:
    start = time.monotonic()
    r = client.post("/v1/chat/completions", json=chat("gpt-slow", "marker-s"))
    elapsed = time.monotonic() - start
    assert r.status_code == 200 and elapsed >= SLOW_MS / 1000 - 0.02


def test_hang_never_answers(fake: FakeProvider, client: httpx.Client) -> None:
    with pytest.raises(httpx.ReadTimeout):
        client.post("/v1/chat/completions", json=chat("gpt-hang", "marker-h"), timeout=0.3)
    assert fake.stats()["requests"][-1]["status"] == "hang"


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_cut_drops_connection_after_two_chunks(client: httpx.Client, path: str) -> None:
    got = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("POST", path, json={**chat("gpt-cut", "marker-cut-long"), "stream": True, "max_tokens": 5}) as r,
    ):
        for line in r.iter_lines():
            got.append(line)
    datas = [json.loads(line[6:]) for line in got if line.startswith("data: {")]
    texts = [d["delta"]["text"] for d in datas if d.get("type") == "content_block_delta"]
    texts += [d["choices"][0]["delta"]["content"] for d in datas if "choices" in d]
    assert len(texts) == 2 and "".join(texts) == "echo: marker-cut-long"[: len("".join(texts))]
    assert not any("[DONE]" in line or "message_stop" in line for line in got)


def test_one_megabyte_body_hashed(fake: FakeProvider, client: httpx.Client) -> None:
    big = "x" * (1024 * 1024)
    r = client.post("/v1/chat/completions", json=chat("gpt-big", big))
    assert r.json()["choices"][0]["message"]["content"] == "echo: " + big
    entry = fake.stats()["requests"][-1]
    assert entry["body_bytes"] > 1024 * 1024
    assert entry["body_sha256"] == hashlib.sha256(r.request.content).hexdigest()
    assert entry["marker_sha256"] == hashlib.sha256(big.encode()).hexdigest()
    assert len(entry["marker"]) == 200


def test_reset_and_unknown_route(fake: FakeProvider, client: httpx.Client) -> None:
    client.post("/v1/chat/completions", json=chat("gpt-x", "m"))
    assert fake.stats()["total"] == 1
    fake.reset()
    assert fake.stats() == {"hits": {}, "total": 0, "requests": []}
    r = client.post("/v1/responses", json={"model": "gpt-x", "input": "m"})
    assert r.status_code == 404
    assert fake.stats()["requests"][-1]["path"] == "/v1/responses"
