"""Cold starts users don't wait for: scheduled warm-up, a warm floor, and warm-sibling routing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rules.instances import pick_instance
from tests.e2e.conftest import launch
from tests.harness import Gateway, wait_for

SLEEP_AFTER_S = 3

pytestmark = pytest.mark.local_only


@pytest.fixture(scope="module")
def pair(litellm_config: Path) -> Iterator[Gateway]:
    gateway = launch(litellm_config, env={"CONTAINER_INSTANCES": "2", "MIN_WARM_INSTANCES": "1",
                                          "SLEEP_AFTER": f"{SLEEP_AFTER_S}s"})
    yield gateway
    gateway.stop()


def states(gateway: Gateway) -> dict[str, str]:
    return {item["name"]: item["state"] for item in gateway.health()["instances"]}


def test_scheduled_warm_up_boots_every_instance_before_any_request(pair: Gateway) -> None:
    assert set(states(pair).values()) == {"stopped"}
    fired = pair.client.get("/cdn-cgi/handler/scheduled", params={"cron": "0 8 * * 1-5"})
    assert fired.status_code == 200, fired.text
    assert states(pair) == {"litellm-0": "ready", "litellm-1": "ready"}
    assert len(pair.running()) == 2


def test_the_warm_floor_is_never_idle_stopped(pair: Gateway) -> None:
    wait_for(lambda: states(pair)["litellm-1"] == "stopped", SLEEP_AFTER_S * 4)
    assert states(pair)["litellm-0"] == "ready" and len(pair.running()) == 1
    assert pair.health()["instances"][1]["last_exit"] == "idle"


@pytest.fixture(scope="module")
def siblings(litellm_config: Path) -> Iterator[Gateway]:
    gateway = launch(litellm_config, env={"CONTAINER_INSTANCES": "2"})
    yield gateway
    gateway.stop()


def affinity_for(instance: str, count: int) -> str:
    return next(key for key in (f"k{i}" for i in range(100)) if pick_instance(count, key) == instance)


def test_a_request_landing_on_a_cold_instance_is_served_by_a_ready_sibling(siblings: Gateway) -> None:
    pinned = siblings.client.post("/v1/chat/completions", headers=siblings.auth(**{
        "x-session-affinity": affinity_for("litellm-0", 2)}), json={"model": "gpt-4o-mini", "messages": [
            {"role": "user", "content": "boot litellm-0 only"}]})
    assert pinned.status_code == 200
    assert states(siblings) == {"litellm-0": "ready", "litellm-1": "stopped"}
    for turn in range(2):  # requests without affinity take turns: one of them lands on the cold litellm-1
        started = time.monotonic()
        response = siblings.chat("gpt-4o-mini", f"turn {turn}")
        assert response.status_code == 200, response.text
        assert time.monotonic() - started < 2.5, "served by the warm sibling, not after a boot"
    assert states(siblings)["litellm-1"] in ("starting", "ready")  # the cold one boots in the background
    wait_for(lambda: states(siblings)["litellm-1"] == "ready", 60)


def test_affinity_requests_keep_their_instance_and_wait_for_its_boot(siblings: Gateway) -> None:
    for container in siblings.running():
        siblings.kill_container(container["id"])
    wait_for(lambda: not siblings.running(), 10)
    key = affinity_for("litellm-1", 2)
    response = siblings.client.post("/v1/chat/completions", headers=siblings.auth(**{"x-session-affinity": key}),
                                    json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 200
    assert states(siblings)["litellm-1"] == "ready" and states(siblings)["litellm-0"] != "ready"
