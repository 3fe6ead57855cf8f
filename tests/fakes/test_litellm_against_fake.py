"""The real LiteLLM proxy (the pinned version in .venv) against the fake provider, with the test config.

Proves the fake speaks each protocol well enough for LiteLLM's real provider code, and pins the LiteLLM
behaviours the gateway relies on (they are listed in the fake_provider module docstring and the report).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import string
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import free_port

from .behaviours import embedding_for, split_text
from .litellm_config import HANG_TIMEOUT_S, NUM_RETRIES, container_test_env, render_test_config
from .provider_process import REPO_ROOT, FakeProvider

MASTER_KEY = "sk-test"
BOOT_TIMEOUT_S = 60.0
LITELLM_BIN = REPO_ROOT / ".venv" / "bin" / "litellm"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider.start() as provider:
        yield provider


@pytest.fixture(scope="module")
def proxy_url(fake: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real LiteLLM proxy per module (boot is ~5 s); its log is shown if it fails to come up."""
    workdir: Path = tmp_path_factory.mktemp("litellm")
    config = workdir / "config.yaml"
    config.write_text(render_test_config(fake.url))
    port = free_port()
    env = {**os.environ, "LITELLM_MASTER_KEY": MASTER_KEY, **container_test_env()}
    log_path = workdir / "litellm.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(LITELLM_BIN), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"LiteLLM did not come up (rc={proc.poll()}):\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health/liveliness", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def client(proxy_url: str, fake: FakeProvider) -> Iterator[httpx.Client]:
    fake.reset()
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    with httpx.Client(base_url=proxy_url, headers=headers, timeout=30.0, trust_env=False) as c:
        yield c


@pytest.fixture
def anthropic_client(proxy_url: str, fake: FakeProvider) -> Iterator[httpx.Client]:
    """Authenticates like the Anthropic SDK does: x-api-key, no Authorization header."""
    fake.reset()
    headers = {"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"}
    with httpx.Client(base_url=proxy_url, headers=headers, timeout=30.0, trust_env=False) as c:
        yield c


def chat(model: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def read_sse(client: httpx.Client, path: str, body: dict[str, Any], **kw: Any) -> list[tuple[float, str]]:
    """(arrival time, line) for every non-empty line of a streamed response."""
    lines = []
    with client.stream("POST", path, json=body, **kw) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line:
                lines.append((time.time(), line))
    return lines


def chat_chunks(lines: list[tuple[float, str]]) -> list[tuple[float, dict[str, Any]]]:
    assert lines[-1][1] == "data: [DONE]"
    return [(t, json.loads(line.removeprefix("data: "))) for t, line in lines[:-1]]


def joined_content(chunks: list[tuple[float, dict[str, Any]]]) -> str:
    return "".join((c["choices"][0]["delta"].get("content") or "") for _, c in chunks if c["choices"])


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("gpt-4o-mini", "/v1/chat/completions"),
        ("gpt-4o", "/v1/chat/completions"),
        ("claude-3-5-sonnet", "/v1/messages"),
    ],
)
def test_chat_plain(client: httpx.Client, fake: FakeProvider, model: str, path: str) -> None:
    marker = f"marker-plain-{model}"
    r = client.post("/v1/chat/completions", json=chat(model, marker))
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == f"echo: {marker}"
    entry = fake.stats()["requests"][-1]
    assert (entry["path"], entry["marker"]) == (path, marker)
    # LiteLLM authenticates upstream the provider's way: Bearer for OpenAI, x-api-key for Anthropic.
    assert entry["auth_scheme"] == ("x-api-key" if model.startswith("claude") else "bearer")
    if model.startswith("claude"):
        assert "anthropic-version" in entry["header_names"]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-3-5-sonnet"])
def test_chat_stream(client: httpx.Client, model: str) -> None:
    marker = f"marker-stream-{model}"
    body = chat(model, marker, stream=True, stream_options={"include_usage": True})
    chunks = chat_chunks(read_sse(client, "/v1/chat/completions", body))
    assert joined_content(chunks) == f"echo: {marker}"
    content = [c for _, c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(content) == 5  # the fake's default --chunks: LiteLLM forwards chunk by chunk
    assert chunks[-1][1]["usage"]["completion_tokens"] > 0
    # Measured fact: unknown top-level fields survive openai/ chunks but not anthropic/ translation.
    has_sent_at = ["x_sent_at" in c for c in content]
    assert all(has_sent_at) if model.startswith("gpt") else not any(has_sent_at)


def test_text_completion_plain_and_stream(client: httpx.Client, fake: FakeProvider) -> None:
    r = client.post("/v1/completions", json={"model": "gpt-3.5-turbo-instruct", "prompt": "marker-c1"})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["text"] == "echo: marker-c1"
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "marker-c2", "stream": True}
    chunks = chat_chunks(read_sse(client, "/v1/completions", body))
    assert "".join(c["choices"][0].get("text") or "" for _, c in chunks) == "echo: marker-c2"
    assert not any("x_sent_at" in c for _, c in chunks)  # measured: LiteLLM rebuilds these chunks
    assert [e["path"] for e in fake.stats()["requests"]] == ["/v1/completions"] * 2


def test_embeddings(client: httpx.Client, fake: FakeProvider) -> None:
    r = client.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": ["a", "marker-e"]})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data[0]["embedding"] == pytest.approx(embedding_for("a"), abs=1e-5)
    assert data[1]["embedding"] == pytest.approx(embedding_for("marker-e"), abs=1e-5)
    assert fake.stats()["requests"][-1]["path"] == "/v1/embeddings"


def test_anthropic_messages_plain(anthropic_client: httpx.Client, fake: FakeProvider) -> None:
    body = {
        "model": "claude-3-5-sonnet",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "marker-m1"}],
    }
    r = anthropic_client.post("/v1/messages", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "message"
    assert r.json()["content"] == [{"type": "text", "text": "echo: marker-m1"}]
    assert fake.stats()["requests"][-1]["path"] == "/v1/messages"


def test_anthropic_messages_stream_is_real_sse(anthropic_client: httpx.Client) -> None:
    body = {"model": "claude-3-5-sonnet", "max_tokens": 50, "stream": True}
    body["messages"] = [{"role": "user", "content": "marker-m2"}]
    lines = read_sse(anthropic_client, "/v1/messages", body)
    events = [line.removeprefix("event: ") for _, line in lines if line.startswith("event: ")]
    datas = [json.loads(line.removeprefix("data: ")) for _, line in lines if line.startswith("data: ")]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert events.count("content_block_delta") == 5
    assert [d["type"] for d in datas] == events
    text = "".join(d["delta"]["text"] for d in datas if d["type"] == "content_block_delta")
    assert text == "echo: marker-m2"
    # Measured fact: on the native Anthropic path the fake's extra field survives in every event.
    assert all("x_sent_at" in d for d in datas)


def test_fallback_flaky_to_backup(client: httpx.Client, fake: FakeProvider) -> None:
    start = time.monotonic()
    r = client.post("/v1/chat/completions", json=chat("flaky", "marker-flaky"))
    elapsed = time.monotonic() - start
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "echo: marker-flaky"
    assert r.headers["x-litellm-attempted-fallbacks"] == "1"
    hits = fake.stats()["hits"]
    assert hits == {"gpt-fail-500": 1 + NUM_RETRIES, "gpt-backup": 1}
    assert elapsed < 3.0


def test_broken_fails_within_bound(client: httpx.Client, fake: FakeProvider) -> None:
    start = time.monotonic()
    r = client.post("/v1/chat/completions", json=chat("broken", "marker-broken"))
    elapsed = time.monotonic() - start
    assert r.status_code == 500
    error = r.json()["error"]
    assert error["code"] == "500" and error["type"] == "internal_server_error"
    assert "fake provider: injected failure (fail-500)" in error["message"]
    assert fake.stats()["hits"] == {"gpt-fail-500": 1 + NUM_RETRIES}
    assert elapsed < 5.0


def test_limited_surfaces_429(client: httpx.Client, fake: FakeProvider) -> None:
    r = client.post("/v1/chat/completions", json=chat("limited", "marker-limited"))
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "429" and r.json()["error"]["type"] == "throttling_error"
    # Measured fact: LiteLLM forwards the upstream Retry-After only as llm_provider-retry-after.
    assert r.headers["llm_provider-retry-after"] == "7"
    assert "retry-after" not in r.headers
    assert fake.stats()["hits"] == {"gpt-fail-429": 1}  # RateLimitErrorRetries: 0


def test_pair_spreads_across_both_deployments(client: httpx.Client, fake: FakeProvider) -> None:
    for i in range(16):
        r = client.post("/v1/chat/completions", json=chat("pair", f"marker-pair-{i}"))
        assert r.status_code == 200
    hits = fake.stats()["hits"]
    assert set(hits) == {"gpt-pair-a", "gpt-pair-b"}
    assert hits["gpt-pair-a"] + hits["gpt-pair-b"] == 16


def test_one_megabyte_body_arrives_intact(client: httpx.Client, fake: FakeProvider) -> None:
    big = "".join(random.choices(string.ascii_letters + string.digits, k=1024 * 1024))
    r = client.post("/v1/chat/completions", json=chat("gpt-4o-mini", big))
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == f"echo: {big}"
    entry = fake.stats()["requests"][-1]
    assert entry["marker_bytes"] == len(big)
    assert entry["marker_sha256"] == hashlib.sha256(big.encode()).hexdigest()


def test_chunks_are_forwarded_as_they_are_sent(client: httpx.Client) -> None:
    chunks = chat_chunks(read_sse(client, "/v1/chat/completions", chat("slow-stream", "marker-t", stream=True)))
    content = [(t, c) for t, c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(content) == 5
    arrivals = [t for t, _ in content]
    assert all(b - a >= 0.15 for a, b in itertools.pairwise(arrivals))
    # Per-chunk forwarding delay through LiteLLM, from the fake's send time (same clock).
    delays = [t - c["x_sent_at"] for t, c in content]
    assert all(0 <= d < 0.25 for d in delays), delays


def test_hanger_times_out(client: httpx.Client, fake: FakeProvider) -> None:
    start = time.monotonic()
    r = client.post("/v1/chat/completions", json=chat("hanger", "marker-hang"))
    elapsed = time.monotonic() - start
    assert r.status_code == 408
    assert "Timeout" in r.json()["error"]["message"]
    assert fake.stats()["hits"] == {"gpt-hang": 1 + NUM_RETRIES}
    assert HANG_TIMEOUT_S * (1 + NUM_RETRIES) <= elapsed < 5.0


def test_cutter_stream_ends_with_error_event(client: httpx.Client) -> None:
    lines = read_sse(client, "/v1/chat/completions", chat("cutter", "marker-cut-0123456789", stream=True))
    datas = [json.loads(line.removeprefix("data: ")) for _, line in lines]
    # Measured fact: 200, chunks that arrived, then an in-band error event and no [DONE]. LiteLLM holds a chunk
    # back until the next one comes, so when the cut races the second chunk it passes on one or both: never
    # more, never out of order (a full suite on a busy machine saw one of the two).
    sent = split_text("echo: marker-cut-0123456789", 5)[:2]
    relayed = [d["choices"][0]["delta"]["content"] for d in datas[:-1]]
    assert relayed in (sent[:1], sent), relayed
    assert "APIConnectionError" in datas[-1]["error"]["message"]


def test_slowpoke_waits_for_slow_upstream(client: httpx.Client) -> None:
    start = time.monotonic()
    r = client.post("/v1/chat/completions", json=chat("slowpoke", "marker-slow"))
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == "echo: marker-slow"
    assert time.monotonic() - start >= 1.9
