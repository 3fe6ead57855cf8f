"""The container's life as clients meet it: unbound, cold start, slow boot, idle stop, crash, restart.

Each scenario runs its own local runtime (vars differ), so these are local-only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.assertions import openai_error
from tests.e2e.conftest import launch
from tests.harness import Gateway, wait_for

pytestmark = pytest.mark.local_only

SLEEP_AFTER_S = 6
ALLOWED_ORIGIN = "https://app.example.com"


# -- no container bound -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def unbound(litellm_config: Path) -> Iterator[Gateway]:
    gateway = launch(litellm_config, containers=False, env={"CORS_ALLOWED_ORIGINS": ALLOWED_ORIGIN})
    yield gateway
    gateway.stop()


def test_unbound_answers_503_with_retry_after(unbound: Gateway) -> None:
    assert unbound.health()["container"]["state"] == "unbound"
    response = unbound.chat("gpt-4o-mini", "anyone there?")
    assert response.status_code == 503
    assert openai_error(response)["code"] == "container_unbound"
    assert int(response.headers["retry-after"]) > 0
    # Auth still comes first: no key, no hint about what is behind.
    assert unbound.client.post("/v1/chat/completions", json={}).status_code == 401


def test_cors_for_a_listed_origin_only(unbound: Gateway) -> None:
    """Preflight and CORS headers come from the edge alone, so they need no container."""
    preflight = unbound.client.options("/v1/chat/completions", headers={
        "origin": ALLOWED_ORIGIN, "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "authorization" in preflight.headers["access-control-allow-headers"]
    assert "POST" in preflight.headers["access-control-allow-methods"]
    answer = unbound.client.get("/v1/models", headers={"origin": ALLOWED_ORIGIN})  # a 401, still readable
    assert answer.status_code == 401
    assert answer.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "x-request-id" in answer.headers["access-control-expose-headers"]
    other = unbound.client.options("/v1/chat/completions", headers={
        "origin": "https://other.example.com", "access-control-request-method": "POST"})
    assert other.status_code == 403 and "access-control-allow-origin" not in other.headers


# -- a readiness budget shorter than LiteLLM's boot ---------------------------------------------

def test_boot_slower_than_ready_timeout_is_503_then_success(litellm_config: Path) -> None:
    gateway = launch(litellm_config, env={"READY_TIMEOUT": "1s"})
    try:
        started = time.monotonic()
        first = gateway.chat("gpt-4o-mini", "too early")
        assert first.status_code == 503, first.text
        assert openai_error(first)["code"] == "container_starting"
        # A first boot has no measured boot time: a short hint, so a retrying SDK lands near readiness.
        assert 1 <= int(first.headers["retry-after"]) <= 5
        assert time.monotonic() - started < 5, "the 503 must come after READY_TIMEOUT, not after the boot"
        assert gateway.health()["container"]["state"] == "starting"
        ok = wait_for(lambda: (r := gateway.chat("gpt-4o-mini", "now?")).status_code == 200 and r, 90, 1)
        assert "now?" in ok.text
        assert gateway.health()["container"]["restarts"] == 0  # the boot went on; nothing restarted
    finally:
        gateway.stop()


# -- a LiteLLM that cannot boot ---------------------------------------------------------------

def test_failing_boots_answer_503_and_back_off(tmp_path: Path) -> None:
    """A broken config: the first request reports the failed boot; the next ones do not restart it at once."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("model_list: [unclosed\n  - {")
    gateway = launch(broken)
    try:
        first = gateway.chat("gpt-4o-mini", "doomed")
        assert first.status_code == 503, first.text
        assert openai_error(first)["code"] == "container_failed"
        assert 1 <= int(first.headers["retry-after"]) <= 2
        health = gateway.health()
        assert health["status"] == "degraded" and health["container"]["state"] == "failed"
        assert health["container"]["boot_failures"] == 1
        [attempt] = gateway.containers()
        again = gateway.chat("gpt-4o-mini", "still doomed")  # within the back-off: no new boot
        assert again.status_code == 503 and openai_error(again)["code"] == "container_failed"
        assert gateway.containers() == [attempt] and not attempt["running"]
        time.sleep(int(again.headers["retry-after"]) + 0.2)
        third = gateway.chat("gpt-4o-mini", "after the wait")  # tries again, fails again, waits longer
        assert third.status_code == 503
        assert gateway.health()["container"]["boot_failures"] == 2
        assert 3 <= int(third.headers["retry-after"]) <= 4
    finally:
        gateway.stop()


# -- one container's whole life -----------------------------------------------------------------

@pytest.fixture(scope="module")
def lifecycle_config(litellm_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test config plus a stream longer than SLEEP_AFTER (5 chunks, 1.6 s apart)."""
    config = yaml.safe_load(litellm_config.read_text())
    base = next(m["litellm_params"]["api_base"] for m in config["model_list"] if m["model_name"] == "gpt-4o-mini")
    config["model_list"].append({"model_name": "long-stream", "litellm_params": {
        "model": "openai/gpt-delay1600", "api_base": base, "api_key": "sk-fake-upstream"}})
    path = tmp_path_factory.mktemp("lifecycle") / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def life(lifecycle_config: Path) -> Iterator[Gateway]:
    gateway = launch(lifecycle_config, env={"SLEEP_AFTER": f"{SLEEP_AFTER_S}s"})
    yield gateway
    # Stopping the runtime leaves no process behind, of any container it ever ran.
    assert gateway.stop() == []
    assert gateway.process is not None and gateway.process.poll() is not None


def test_health_never_starts_a_container(life: Gateway) -> None:
    for _ in range(3):
        assert life.health()["container"]["state"] == "stopped"
    time.sleep(1)
    assert life.running() == []


def test_first_requests_after_cold_start_share_one_boot_and_succeed(life: Gateway) -> None:
    """Six requests arrive while the container is stopped: one start, one readiness wait, six answers."""
    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda n: life.chat("gpt-4o-mini", f"cold-start-{n}"), range(6)))
    for n, response in enumerate(responses):
        assert response.status_code == 200, response.text
        assert f"cold-start-{n}" in response.text
    assert time.monotonic() - started > 1  # it really waited for a boot
    health = life.health()["container"]
    assert health["state"] == "ready" and health["last_boot_ms"] > 1000 and health["restarts"] == 0
    assert len(life.running()) == 1
    starts = [line for line in life.log_lines() if '"event":"container_state"' in line and '"state":"starting"' in line]
    assert len(starts) == 1, starts


def test_a_stream_longer_than_sleep_after_is_not_cut(life: Gateway) -> None:
    payload = {"model": "long-stream", "stream": True, "messages": [{"role": "user", "content": "long"}]}
    started = time.monotonic()
    with life.client.stream("POST", "/v1/chat/completions", json=payload, headers=life.auth()) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert time.monotonic() - started > SLEEP_AFTER_S
    assert lines[-1] == "data: [DONE]"
    assert life.health()["container"]["state"] == "ready"


def test_idle_container_is_stopped_by_the_alarm(life: Gateway) -> None:
    state = wait_for(lambda: (c := life.health()["container"])["state"] == "stopped" and c, SLEEP_AFTER_S * 3)
    assert state["last_exit"] == "idle"
    assert life.running() == []


def test_next_request_restarts_it(life: Gateway) -> None:
    response = life.chat("gpt-4o-mini", "wake-up")
    assert response.status_code == 200, response.text
    health = life.health()["container"]
    assert health["state"] == "ready" and health["restarts"] == 1


def test_a_request_racing_an_idle_stop_is_served_by_a_fresh_container(life: Gateway) -> None:
    """The alarm has just sent SIGTERM when a request arrives: it waits for the exit and a new boot."""
    restarts = life.health()["container"]["restarts"]
    stops_before = sum('"event":"container_stop"' in line for line in life.log_lines())
    wait_for(lambda: sum('"event":"container_stop"' in line for line in life.log_lines()) > stops_before,
             SLEEP_AFTER_S * 3, interval=0.02)
    response = life.chat("gpt-4o-mini", "just-in-time")
    assert response.status_code == 200, response.text
    assert "just-in-time" in response.text
    assert life.health()["container"]["restarts"] == restarts + 1


def test_crash_mid_request_is_a_502_and_the_next_request_gets_a_new_container(life: Gateway) -> None:
    assert life.chat("gpt-4o-mini", "up").status_code == 200  # a running container, whatever ran before
    [before] = life.running()
    restarts = life.health()["container"]["restarts"]
    result: dict[str, httpx.Response] = {}

    def slow_call() -> None:
        result["response"] = life.chat("slowpoke", "in flight")  # the fake answers after 2 s

    caller = threading.Thread(target=slow_call)
    caller.start()
    time.sleep(0.7)
    life.kill_container(before["id"])
    caller.join(timeout=30)
    assert not caller.is_alive(), "the in-flight request hung"
    assert result["response"].status_code == 502, result["response"].text
    assert openai_error(result["response"])["code"] == "upstream_unreachable"
    wait_for(lambda: life.health()["container"]["state"] == "failed", 10)
    assert life.health()["container"]["last_exit"] == "crashed"

    again = life.chat("gpt-4o-mini", "after-crash")
    assert again.status_code == 200, again.text
    [after] = life.running()
    assert after["pid"] != before["pid"]
    assert life.health()["container"]["restarts"] == restarts + 1
