"""32 concurrent chat requests, half streaming: all succeed, each with its own marker, none lost."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.harness import FakeProvider, Gateway

CONCURRENCY = 32


def one_request(gateway: Gateway, index: int) -> tuple[str, str, str]:
    mark = f"load-{index}-{uuid.uuid4().hex[:10]}"
    stream = index % 2 == 0
    payload = {"model": "gpt-4o-mini", "stream": stream, "messages": [{"role": "user", "content": mark}]}
    with httpx.Client(base_url=gateway.url, timeout=120) as client:
        if not stream:
            response = client.post("/v1/chat/completions", json=payload, headers=gateway.auth())
            assert response.status_code == 200, response.text
            return mark, response.json()["choices"][0]["message"]["content"], response.headers["x-request-id"]
        with client.stream("POST", "/v1/chat/completions", json=payload, headers=gateway.auth()) as response:
            assert response.status_code == 200
            parts = [json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
                     for line in response.iter_lines()
                     if line.startswith("data: {") and json.loads(line[6:])["choices"]]
            return mark, "".join(parts), response.headers["x-request-id"]


def test_concurrent_requests_do_not_cross(gateway: Gateway, provider: FakeProvider) -> None:
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        results = list(pool.map(lambda i: one_request(gateway, i), range(CONCURRENCY)))
    for mark, text, _ in results:
        assert mark in text, f"{mark!r} missing from its own answer {text[:120]!r}"
        others = [m for m, _, _ in results if m != mark and m in text]
        assert not others, f"{mark} got someone else's marker {others}"
    assert len({request_id for _, _, request_id in results}) == CONCURRENCY
    assert provider.stats()["hits"] == {"gpt-4o-mini": CONCURRENCY}
