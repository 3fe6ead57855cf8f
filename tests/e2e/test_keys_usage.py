"""The usage ledger (issue 11 §4): what each key used, from JSON bodies and from streams, booked after the
last byte; the client never sees the usage chunk the gateway asked for on its behalf.

Each case uses a fresh key, so the key's ledger row holds exactly that case's requests.
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from keys.material import token_of
from keys.ops import MASTER
from keys.ticket import Ticket
from protocol import TICKET_HEADER
from tests.e2e.keys_admin import KeyAdmin, bearer, chat_body, known_usage
from tests.harness import FakeProvider, Gateway

CHUNKS = 5  # the fake's chunks per stream (tests/e2e/conftest.py)


@pytest.fixture(scope="module")
def admin(gateway: Gateway) -> KeyAdmin:
    return KeyAdmin(gateway)


def sse_events(text: str) -> list[dict | str]:
    """The data of each server-sent event, parsed ("[DONE]" stays a string)."""
    events: list[dict | str] = []
    for block in text.split("\n\n"):
        data = "\n".join(line[5:].lstrip() for line in block.splitlines() if line.startswith("data:"))
        if data:
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def stream(client: httpx.Client, path: str, body: dict, headers: dict[str, str]) -> list[dict | str]:
    with client.stream("POST", path, json={**body, "stream": True}, headers=headers) as answer:
        assert answer.status_code == 200, answer.read()
        return sse_events(answer.read().decode())


def shape(events: list[dict | str]) -> list[object]:
    """What a client reads from a chat stream, without ids and timestamps."""
    return [event if isinstance(event, str) else
            (sorted(event), [(c.get("delta"), c.get("finish_reason")) for c in event["choices"]])
            for event in events]


def test_json_usage_of_every_format_is_booked(admin: KeyAdmin, provider: FakeProvider) -> None:
    key = admin.generate()
    content = "usage-json-" + "j" * 80
    chat = admin.chat(key, content).json()["usage"]
    assert (chat["prompt_tokens"], chat["completion_tokens"]) == known_usage(content)
    legacy = admin.client.post("/v1/completions", json={"model": "gpt-3.5-turbo-instruct", "prompt": content},
                               headers=bearer(key)).json()["usage"]
    embedding = admin.client.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": content},
                                  headers=bearer(key)).json()["usage"]
    messages = admin.client.post("/v1/messages", headers={"x-api-key": key}, json={
        "model": "claude-3-5-sonnet", "max_tokens": 64, "messages": [{"role": "user", "content": content}]},
    ).json()["usage"]
    row = admin.wait_booked(token_of(key), 4)
    assert row["requests"] == 4 and row["failed_requests"] == 0
    assert row["prompt_tokens"] == (chat["prompt_tokens"] + legacy["prompt_tokens"] + embedding["prompt_tokens"]
                                    + messages["input_tokens"])
    assert row["completion_tokens"] == (chat["completion_tokens"] + legacy["completion_tokens"]
                                        + messages["output_tokens"])
    assert row["spend"] == pytest.approx(admin.info(key)["spend"]) and row["spend"] > 0
    assert provider.stats()["total"] == 4


def test_stream_without_include_usage_is_booked_and_shows_no_extra_chunk(admin: KeyAdmin) -> None:
    key = admin.generate()
    content = "usage-stream-plain"
    events = stream(admin.client, "/v1/chat/completions", chat_body(content), bearer(key))
    master = stream(admin.client, "/v1/chat/completions", chat_body(content), admin.gateway.auth())
    assert not any(isinstance(event, dict) and "usage" in event for event in events), events
    assert len(events) == CHUNKS + 2 and events[-1] == "[DONE]"  # content chunks, the finish chunk, [DONE]
    assert shape(events) == shape(master)
    row = admin.wait_booked(token_of(key), 1)
    assert (row["prompt_tokens"], row["completion_tokens"]) == known_usage(content)


def test_stream_with_include_usage_keeps_the_clients_usage_chunk(admin: KeyAdmin) -> None:
    key = admin.generate()
    content = "usage-stream-asked"
    body = chat_body(content, stream_options={"include_usage": True})
    events = stream(admin.client, "/v1/chat/completions", body, bearer(key))
    usage = events[-2]["usage"]  # type: ignore[index]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == known_usage(content)
    assert shape(events) == shape(stream(admin.client, "/v1/chat/completions", body, admin.gateway.auth()))
    row = admin.wait_booked(token_of(key), 1)
    assert (row["prompt_tokens"], row["completion_tokens"]) == known_usage(content)


def test_legacy_completion_stream_is_booked(admin: KeyAdmin) -> None:
    key = admin.generate()
    content = "usage-legacy-stream"
    events = stream(admin.client, "/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": content},
                    bearer(key))
    assert not any(isinstance(event, dict) and event.get("usage") for event in events), events
    row = admin.wait_booked(token_of(key), 1)
    assert (row["prompt_tokens"], row["completion_tokens"]) == known_usage(content)


def test_anthropic_stream_is_booked_from_its_events(admin: KeyAdmin) -> None:
    key = admin.generate()
    body = {"model": "claude-3-5-sonnet", "max_tokens": 64, "messages": [{"role": "user", "content": "usage-msg"}]}
    events = [e for e in stream(admin.client, "/v1/messages", body, {"x-api-key": key}) if isinstance(e, dict)]
    start = next(e for e in events if e["type"] == "message_start")["message"]["usage"]
    delta = [e for e in events if e["type"] == "message_delta"][-1]["usage"]
    row = admin.wait_booked(token_of(key), 1)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (start["input_tokens"], delta["output_tokens"])
    assert row["completion_tokens"] > 0


def test_a_client_that_leaves_mid_stream_is_still_booked(admin: KeyAdmin, provider: FakeProvider) -> None:
    """Booked as one request with an estimate of what went by (metering.usage: the usage chunk comes last, after
    the client left), and its lease freed."""
    key = admin.generate(max_parallel_requests=1)
    body = chat_body("usage-leaver", "slow-stream", stream=True)
    with admin.client.stream("POST", "/v1/chat/completions", json=body, headers=bearer(key)) as answer:
        assert answer.status_code == 200
        first = next(answer.iter_lines())
        assert first.startswith("data:")
    row = admin.wait_booked(token_of(key), 1)
    assert row["requests"] == 1 and row["prompt_tokens"] > 0 and row["completion_tokens"] >= 1
    assert admin.chat(key, "usage-after-leaving", "slow-stream").status_code == 200  # the lease came back
    assert provider.stats()["total"] == 2


def test_failed_requests_count_with_zero_tokens(admin: KeyAdmin) -> None:
    key = admin.generate()
    assert admin.chat(key, "usage-broken", "broken").status_code >= 500
    row = admin.wait_booked(token_of(key), 1)
    assert (row["requests"], row["failed_requests"], row["total_tokens"], row["spend"]) == (1, 1, 0, 0)


def test_spend_report_groups_by_key_model_and_day(admin: KeyAdmin) -> None:
    key = admin.generate(key_alias=f"report-{uuid.uuid4().hex[:8]}")
    for model in ("gpt-4o-mini", "gpt-4o"):
        assert admin.chat(key, f"report-{model}", model).status_code == 200
    row = admin.wait_booked(token_of(key), 2)
    assert row["key_name"] == f"sk-...{key[-4:]}" and row["key_alias"].startswith("report-")
    for group_by, field in (("key", "token"), ("model", "model"), ("day", "date")):
        report = admin.report(group_by)
        assert report["group_by"] == group_by and all(field in group for group in report["data"])
        for total in ("requests", "prompt_tokens", "completion_tokens"):
            assert report["total"][total] == sum(group[total] for group in report["data"])
    models = {group["model"] for group in admin.report("model")["data"]}
    assert {"gpt-4o-mini", "gpt-4o"} <= models
    assert key not in json.dumps(admin.report("key"))


def test_a_client_cannot_book_its_requests_to_another_key(admin: KeyAdmin) -> None:
    """The edge tells the container's Durable Object who pays in an internal header: a client's copy of it
    is dropped, so the master key's request is booked to the master key, not to the key it names."""
    victim = admin.generate()
    before = admin.ledger(MASTER)["requests"]
    forged = Ticket(token_of(victim), None, "gpt-4o-mini").header_value()
    answer = admin.client.post("/v1/chat/completions", json=chat_body("forged-ticket"),
                               headers={**admin.gateway.auth(), TICKET_HEADER: forged})
    assert answer.status_code == 200, answer.text
    assert admin.wait_booked(MASTER, before + 1)["requests"] == before + 1
    assert admin.ledger(token_of(victim))["requests"] == 0
