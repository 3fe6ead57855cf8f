"""128 MB per isolate: no request, and no burst of requests, may take an isolate past Cloudflare's memory limit.

Measured by the local runtime (local/README.md, "What only a deployment would show"): Pyodide's Wasm memory + V8's
heap + external memory (ArrayBuffers), the peak of live memory over a baseline taken after a full GC, a fresh
runtime per case. The runtime fronts one LiteLLM (upstream mode): no container boot per case.

How the figures map: locally the Worker and the Durable Object share one process. A body the edge forwards is held
by the Worker (read once: the edge's share) and then crosses the hop into the Durable Object, whose relay holds
what is in flight, both ways — in workerd that is the Durable Object's isolate, with its own 128 MB. So a case is
allowed 16 MiB plus the bytes that crossed the hop (the forwarded body and the answer relayed back: the fake
provider echoes a prompt, so one 9.9 MB string comes back as a 9.9 MB answer); a body the edge refuses after
reading it whole shows the Worker's share alone (about 10 MiB for 10 MiB).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.conftest import UPSTREAM_KEY
from tests.harness import Gateway, start_gateway

pytestmark = pytest.mark.local_only

MIB = 1024 * 1024
PER_REQUEST_BUDGET = 16 * MIB  # issue "128 MB per isolate": growth of one request of any shape
BURST_TOTAL_BUDGET = 96 * MIB  # peak total (baseline included) for 64 concurrent ordinary requests
CLIENT_KEY = "sk-memory-client-key"


@pytest.fixture
def fresh(existing_litellm: str) -> Iterator[Gateway]:
    """A fresh runtime, warmed by two small chats, its baseline taken."""
    gateway = start_gateway(key=CLIENT_KEY, litellm_config=None, containers=False,
                            env={"LITELLM_UPSTREAM_URL": existing_litellm, "LITELLM_UPSTREAM_KEY": UPSTREAM_KEY})
    try:
        for _ in range(2):
            assert gateway.chat("gpt-4o-mini", "warm up").status_code == 200
        gateway.memory_baseline()
        yield gateway
    finally:
        gateway.stop()


def budget_for(path: str, request_bytes: int, status: int, answer_bytes: int) -> int:
    """16 MiB, plus what crossed the local hop into the Durable Object's share (see the module docstring)."""
    forwarded = request_bytes if status == 200 or path.endswith("transcriptions") else 0
    return PER_REQUEST_BUDGET + forwarded + answer_bytes


def growth(gateway: Gateway) -> int:
    memory = gateway.memory()
    return memory["peak"]["total"] - memory["baseline"]["total"]


def chat_body(messages: object) -> bytes:
    return json.dumps({"model": "gpt-4o-mini", "messages": messages}, separators=(",", ":")).encode()


def multipart(size: int) -> tuple[bytes, str]:
    boundary = "memoryboundary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n").encode()
    return head + b"\0" * size + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


CASES: dict[str, tuple[str, Callable[[], tuple[bytes, str]], tuple[int, ...]]] = {
    # name: (path, body and content type, statuses it may get)
    "a 9.9 MB string refused after the whole body is read": ("/v1/chat/completions", lambda: (json.dumps(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 9_900_000}], "api_base": "x"}
    ).encode(), "application/json"), (400,)),
    "1.25 M tiny objects (9.5 MiB)": ("/v1/chat/completions",
                                      lambda: (chat_body([{"a": 1}] * 1_250_000), "application/json"), (400,)),
    "one 9.9 MB string": ("/v1/chat/completions",
                          lambda: (chat_body([{"role": "user", "content": "x" * 9_900_000}]), "application/json"),
                          (200,)),
    "9,000 messages of 1 KB (9 MiB)": ("/v1/chat/completions",
                                       lambda: (chat_body([{"role": "user", "content": "y" * 1000}] * 9000),
                                                "application/json"), (200,)),
    "5 MiB multipart upload": ("/v1/audio/transcriptions", lambda: multipart(5 * MIB), (200, 400, 404, 500)),
    # The same 9.9 MB forwarded with a small answer: shows that an echoed answer is what the case above adds.
    "embeddings of one 9.9 MB input": ("/v1/embeddings", lambda: (json.dumps(
        {"model": "text-embedding-3-small", "input": "x" * 9_900_000}).encode(), "application/json"), (200,)),
    "embeddings of 30,000 inputs": ("/v1/embeddings", lambda: (json.dumps(
        {"model": "text-embedding-3-small", "input": [f"text {n}" for n in range(30_000)]}).encode(),
        "application/json"), (200,)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_one_request_of_any_shape_grows_the_isolate_by_at_most_16_mib(fresh: Gateway, case: str) -> None:
    path, make, statuses = CASES[case]
    body, content_type = make()
    answer = fresh.client.post(path, content=body, headers=fresh.auth(**{"content-type": content_type}))
    assert answer.status_code in statuses, answer.text[:300]
    grown = growth(fresh)
    budget = budget_for(path, len(body), answer.status_code, len(answer.content))
    assert grown <= budget, f"{case}: +{grown / MIB:.1f} MiB > {budget / MIB:.1f}"


def test_64_concurrent_ordinary_requests_stay_within_96_mib_in_all(fresh: Gateway) -> None:
    def one(n: int) -> httpx.Response:
        stream = n % 2 == 0
        return fresh.client.post("/v1/chat/completions", headers=fresh.auth(), json={
            "model": "gpt-4o-mini", "stream": stream,
            "messages": [{"role": "user", "content": f"ordinary request {n} " + "z" * 2000}]})

    with ThreadPoolExecutor(64) as pool:
        answers = list(pool.map(one, range(64)))
    assert all(answer.status_code == 200 for answer in answers), {a.status_code for a in answers}
    peak = fresh.memory()["peak"]["total"]
    assert peak <= BURST_TOTAL_BUDGET, f"peak {peak / MIB:.1f} MiB"


def test_eight_maximum_size_bodies_at_once_are_bounded_by_max_buffered_bytes(fresh: Gateway) -> None:
    """Past MAX_BUFFERED_BYTES (20 MiB) the edge answers 503 with Retry-After rather than buffer."""
    body = chat_body([{"role": "user", "content": "w" * (10 * MIB - 200)}])

    def one(_: int) -> httpx.Response:
        return fresh.client.post("/v1/chat/completions", content=body,
                                 headers=fresh.auth(**{"content-type": "application/json"}))

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    statuses = sorted(answer.status_code for answer in answers)
    assert set(statuses) <= {200, 503} and 200 in statuses and 503 in statuses, statuses
    busy = next(answer for answer in answers if answer.status_code == 503)
    assert busy.headers["retry-after"] == "1" and busy.json()["error"]["code"] == "gateway_busy"
    peak = fresh.memory()["peak"]["total"]
    assert peak <= BURST_TOTAL_BUDGET, f"peak {peak / MIB:.1f} MiB"
