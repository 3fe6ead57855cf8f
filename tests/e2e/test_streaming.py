"""Streams pass chunk by chunk, never buffered: timing, [DONE], usage, and clients that walk away."""

from __future__ import annotations

import itertools
import json
import time
import uuid

import httpx

from tests.harness import Gateway


def sse_events(response: httpx.Response) -> list[tuple[float, str]]:
    """(arrival time, data) for each `data:` line, timed as the client reads them."""
    events = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            events.append((time.monotonic(), line[len("data: "):]))
    return events


def stream_chat(gateway: Gateway, model: str, content: str, **body: object) -> tuple[float, list[tuple[float, str]]]:
    payload = {"model": model, "stream": True, "messages": [{"role": "user", "content": content}], **body}
    started = time.monotonic()
    with gateway.client.stream("POST", "/v1/chat/completions", json=payload, headers=gateway.auth()) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return started, sse_events(response)


def test_chunks_arrive_as_the_upstream_sends_them(gateway: Gateway) -> None:
    """slow-stream: the fake sends 5 chunks 300 ms apart. Buffering anywhere would bunch them at the end."""
    mark = f"stream-{uuid.uuid4().hex[:8]}"
    _, events = stream_chat(gateway, "slow-stream", mark)
    assert events[-1][1] == "[DONE]"
    content_events = [(t, json.loads(data)) for t, data in events[:-1]]
    deltas = [e for e in content_events if e[1]["choices"] and e[1]["choices"][0]["delta"].get("content")]
    assert len(deltas) >= 5
    assert mark in "".join(e[1]["choices"][0]["delta"]["content"] for e in deltas)
    first, last = deltas[0][0], deltas[-1][0]
    # The first chunk is in hand long before the last one was even sent (4 x 300 ms later).
    assert last - first >= 0.9, f"chunks bunched together: spread {last - first:.3f}s"
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(deltas)]
    assert sum(gap >= 0.15 for gap in gaps) >= len(gaps) - 1, f"chunk gaps {gaps}"
    # Each chunk reached us soon after the fake stamped it (clocks are the same machine's). LiteLLM
    # itself holds the first chunk until the second arrives (measured direct too), so judge the rest.
    lags = [time.time() - (time.monotonic() - t) - e["x_sent_at"] for t, e in deltas if "x_sent_at" in e]
    assert len(lags) >= 4 and max(lags[1:]) < 0.1, f"forwarding lag {lags}"


def test_done_and_usage_with_include_usage(gateway: Gateway) -> None:
    _, events = stream_chat(gateway, "gpt-4o-mini", "usage please", stream_options={"include_usage": True})
    assert events[-1][1] == "[DONE]"
    usage = [json.loads(data)["usage"] for _, data in events[:-1] if json.loads(data).get("usage")]
    assert usage and usage[-1]["total_tokens"] > 0


def test_anthropic_messages_stream_events(gateway: Gateway) -> None:
    mark = f"claude-{uuid.uuid4().hex[:8]}"
    payload = {"model": "claude-3-5-sonnet", "max_tokens": 64, "stream": True,
               "messages": [{"role": "user", "content": mark}]}
    headers = {"x-api-key": gateway.key, "anthropic-version": "2023-06-01"}
    with gateway.client.stream("POST", "/v1/messages", json=payload, headers=headers) as response:
        assert response.status_code == 200
        lines = list(response.iter_lines())
    events = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert "content_block_delta" in events
    text = "".join(json.loads(line[6:])["delta"].get("text", "") for line in lines
                   if line.startswith("data: ") and '"content_block_delta"' in line)
    assert mark in text


def test_client_leaving_mid_stream_leaves_the_gateway_healthy(gateway: Gateway) -> None:
    payload = {"model": "slow-stream", "stream": True, "messages": [{"role": "user", "content": "bye"}]}
    with gateway.client.stream("POST", "/v1/chat/completions", json=payload, headers=gateway.auth()) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                break  # walk away after the first chunk
    time.sleep(0.5)
    again = gateway.chat("gpt-4o-mini", "still-alive")
    assert again.status_code == 200 and "still-alive" in again.text
    health = gateway.health()
    assert health["status"] == "ok" and health["container"]["state"] in ("ready", "upstream")  # see test_edge
