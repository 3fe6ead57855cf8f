"""Cold starts users don't wait for: the scheduled warm-up boots every instance, the warm floor keeps one up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
