"""What only a deployment would show, made visible by the local runtime's control API: uncaught errors and
Durable Object storage left behind (local/README.md, "What only a deployment would show")."""

from __future__ import annotations

import time

import pytest

from tests.e2e.assertions import openai_error
from tests.e2e.uploads import OVERSIZED_MULTIPART_TYPE, oversized_multipart
from tests.harness import FakeProvider, Gateway, wait_for

pytestmark = pytest.mark.local_only

# workerd logs this one for the Worker -> Durable Object hop whenever the object answers without reading the
# client's body to its end, however it stops reading (probed; local/durable_objects.mjs emulates it).
UNREAD_BY_THE_OBJECT = "Uncaught TypeError: Can't read from request stream after response has been sent."


def uncaught_since(gateway: Gateway, before: int, at_least: int) -> list[str]:
    """The uncaught errors reported after `before`, once there are `at_least` and no more came for a moment (the
    runtime reports the hop's just after the response is out, which the client may see first)."""
    wait_for(lambda: gateway.uncaught()["count"] >= before + at_least, 5.0)
    time.sleep(0.3)
    now = gateway.uncaught()
    added = now["count"] - before
    assert added <= len(now["recent"]), now
    return now["recent"][len(now["recent"]) - added:]


def test_an_oversized_streamed_upload_is_stopped_without_an_uncaught_error_of_its_own(
        gateway: Gateway, provider: FakeProvider) -> None:
    """The upload is stopped by aborting its fetch alone: erroring its stream made workerd also log `Uncaught (in
    promise) Error: request body over the limit`. The hop's report remains: no way of stopping avoids it."""

    before = gateway.uncaught()["count"]
    response = gateway.client.post("/v1/audio/transcriptions", content=oversized_multipart(),
                                   headers=gateway.auth(**{"content-type": OVERSIZED_MULTIPART_TYPE}))
    assert response.status_code == 413, response.text[:300]
    assert openai_error(response)["code"] == "request_too_large"
    assert provider.stats()["total"] == 0
    assert uncaught_since(gateway, before, 1) == [UNREAD_BY_THE_OBJECT]


def settled_storage(gateway: Gateway) -> dict[str, dict[str, int]]:
    """The storage once nothing changes it for a moment (a warm-up's booking lands after its answer)."""
    last: list[dict[str, dict[str, int]]] = [gateway.storage()]

    def unchanged() -> bool:
        time.sleep(0.3)
        now = gateway.storage()
        same = now == last[0]
        last[0] = now
        return same

    wait_for(unchanged, 10.0)
    return last[0]


def test_a_thousand_strangers_leave_no_durable_object_storage_behind(gateway: Gateway) -> None:
    """Forged keys (the gateway's format, a mark no secret made) are refused at the edge; keys it never issued
    cost one read-only lookup. Neither may leave an object holding anything: storage is what an attacker could
    otherwise fill at no cost of their own."""
    before = settled_storage(gateway)
    for n in range(1000):
        key = f"sk-lr-{n:048d}" if n % 2 else f"sk-never-issued-{n:020d}"
        calls = gateway.calls()["VirtualKey"]["calls"]
        answer = gateway.client.post("/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                                     json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
        assert answer.status_code == 401, answer.text[:300]
        # The gateway's format with a wrong mark: refused by the edge alone; any other key: one lookup.
        assert gateway.calls()["VirtualKey"]["calls"] - calls == (0 if n % 2 else 1), key
    assert gateway.storage() == before


def test_a_virtual_keys_request_costs_one_key_object_call_from_the_edge(gateway: Gateway) -> None:
    """Admission (from the edge) and booking (from the container's object, after the answer): two calls in all,
    one on the request's path, both Durable Object RPC calls (no fetch, no JSON text: issue "The edge's cost")."""
    admin = gateway.client.post("/key/generate", headers=gateway.auth(), json={"models": ["gpt-4o-mini"]})
    key = admin.json()["key"]
    before = gateway.calls()["VirtualKey"]
    answer = gateway.client.post("/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                                 json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "one call"}]})
    assert answer.status_code == 200, answer.text[:300]
    wait_for(lambda: gateway.calls()["VirtualKey"]["calls"] - before["calls"] >= 2, 5.0)
    time.sleep(0.3)
    after = gateway.calls()["VirtualKey"]
    assert after["calls"] - before["calls"] == 2  # admit + the booking, nothing more
    assert after["rpc"] - before["rpc"] == 2  # both by RPC


def test_the_edges_calls_to_the_container_instances_outside_traffic_are_rpc(gateway: Gateway) -> None:
    """/health (each instance's state), /spend/report and /spend/logs (the master key's ledger and recent requests
    held by the instances) ask the container objects by Durable Object RPC, one call per instance, with no fetch
    and no JSON text (protocol.INTERNAL_METHOD); what they answer is unchanged (the health and spend tests)."""
    before = gateway.calls()["LiteLLMContainer"]
    health = gateway.client.get("/health")
    assert health.status_code == 200
    instances = len(health.json()["instances"])
    assert instances >= 1 and all(item.get("state") for item in health.json()["instances"])
    after = gateway.calls()["LiteLLMContainer"]
    assert after["rpc"] - before["rpc"] == instances
    assert after["calls"] - before["calls"] == instances  # none of them a fetch
    logs = gateway.client.get("/spend/logs", headers=gateway.auth())
    assert logs.status_code == 200, logs.text[:300]
    later = gateway.calls()["LiteLLMContainer"]
    assert later["calls"] - after["calls"] == later["rpc"] - after["rpc"]  # the holders asked, all by RPC
