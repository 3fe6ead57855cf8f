"""Beyond one container: CONTAINER_INSTANCES=2 behind one edge, router state shared through Redis.

Two gateways, each with two instances (`litellm-0`, `litellm-1`), both running the router_settings
`redis_*` lines of the production litellm_config.yaml:
- `plain`: REDIS_* unset. /health starts nothing; an affinity key pins traffic to one instance; the
  unset Redis settings cost nothing. Every request to it carries the key of `litellm-1`.
- `shared`: REDIS_HOST/REDIS_PORT set as Worker secrets (the Durable Object passes them into each
  container, as in production) pointing at a real redis-server. Load spreads over both instances, and a
  cooldown or an rpm limit reached through one instance holds on the other.

Which instance served a request is read from each container's own access log: with LITELLM_LOG=INFO,
uvicorn logs `"POST /v1/chat/completions HTTP/1.1" 200`, and the local runtime prefixes every container
line with the container's name.
"""

from __future__ import annotations

import itertools
import re
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from rules.instances import pick_instance
from tests.e2e.assertions import openai_error
from tests.e2e.conftest import E2E_KEY
from tests.e2e.redis_server import RedisServer
from tests.fakes.litellm_config import DUMMY_OPENAI_KEY, container_test_env, render_test_config
from tests.harness import ROOT, FakeProvider, Gateway, start_gateway, wait_for

pytestmark = pytest.mark.local_only

INSTANCES = ("litellm-0", "litellm-1")
COOL_BAD = "gpt-fail-429-cool"  # the fake answers 429: LiteLLM cools the deployment down at once
COOL_OK = "gpt-cool-ok"
CAPPED = "gpt-capped"
RPM_LIMIT = 4
# A cooldown missing from a replica's memory is re-read from Redis at most this often
# (LiteLLM's DEFAULT_COOLDOWN_REDIS_READ_INTERVAL_SECONDS).
COOLDOWN_READ_INTERVAL_S = 1.0
ACCESS_LINE = re.compile(r'^\[(litellm-\d+)\] .*"POST /v1/chat/completions HTTP/1\.1\\?" \d{3}')


def production_redis_settings() -> dict[str, Any]:
    router = yaml.safe_load((ROOT / "litellm_config.yaml").read_text())["router_settings"]
    return {name: value for name, value in router.items() if name.startswith("redis_")}


def scaling_config(fake_url: str) -> str:
    """The e2e test config plus the production Redis lines, rpm enforcement, and two model groups."""
    extra = {**production_redis_settings(), "optional_pre_call_checks": ["enforce_model_rate_limits"]}
    config = yaml.safe_load(render_test_config(fake_url, extra_router_settings=extra))
    base = f"{fake_url.rstrip('/')}/v1"

    def deployment(group: str, upstream: str, **more: Any) -> dict[str, Any]:
        params = {"model": f"openai/{upstream}", "api_base": base, "api_key": DUMMY_OPENAI_KEY}
        return {"model_name": group, "litellm_params": {**params, **more.pop("params", {})}, **more}

    config["model_list"] += [
        # The deployment's own cooldown_time outranks the fake's Retry-After: 7.
        deployment("cool-pair", COOL_BAD, model_info={"cooldown_time": 60}),
        deployment("cool-pair", COOL_OK),
        deployment("capped", CAPPED, params={"rpm": RPM_LIMIT}),
    ]
    return yaml.safe_dump(config, sort_keys=False)


def affinity_key(instance: str) -> str:
    """A session key the edge maps to `instance` (same rule as the edge: worker/container/instances.py)."""
    return next(key for key in (f"session-{n}" for n in itertools.count())
                if pick_instance(len(INSTANCES), key) == instance)


def chat(gateway: Gateway, model: str, content: str, key: str | None = None) -> httpx.Response:
    headers = gateway.auth(**({"x-session-affinity": key} if key else {}))
    payload = {"model": model, "messages": [{"role": "user", "content": content}]}
    return gateway.client.post("/v1/chat/completions", json=payload, headers=headers)


def served(gateway: Gateway) -> Counter[str]:
    """Chat requests each container's LiteLLM has answered so far, from its access log."""
    return Counter(m.group(1) for m in map(ACCESS_LINE.match, gateway.log_text().splitlines()) if m)


def served_since(gateway: Gateway, before: Counter[str], expected: int) -> Counter[str]:
    """Requests served since `before`, once `expected` of them are logged (log lines arrive async)."""
    deadline = time.monotonic() + 5
    while True:
        delta = served(gateway) - before
        if delta.total() >= expected or time.monotonic() > deadline:
            return delta
        time.sleep(0.05)


def states(gateway: Gateway) -> dict[str, str]:
    return {item["name"]: item["state"] for item in gateway.health()["instances"]}


def running(gateway: Gateway) -> set[str]:
    return {item["id"] for item in gateway.running()}


def launch(config: Path, env: dict[str, str]) -> Gateway:
    return start_gateway(key=E2E_KEY, litellm_config=config, env={"CONTAINER_INSTANCES": "2", **env},
                         container_env={**container_test_env(), "LITELLM_LOG": "INFO"})


@dataclass
class Plain:
    gateway: Gateway
    cold_health: dict  # /health of the fresh gateway, before any /v1 request
    containers_after_health: list[dict]


@pytest.fixture(scope="module")
def config_path(fake: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scaling") / "litellm_scaling_config.yaml"
    path.write_text(scaling_config(fake.url))
    return path


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer.start() as server:
        yield server


@pytest.fixture(scope="module")
def plain(config_path: Path) -> Iterator[Plain]:
    gateway = launch(config_path, {"REDIS_HOST": "", "REDIS_PORT": "", "REDIS_PASSWORD": ""})
    try:
        yield Plain(gateway, gateway.health(), gateway.containers())
    finally:
        gateway.stop()


@pytest.fixture(scope="module")
def shared(config_path: Path, redis_server: RedisServer) -> Iterator[Gateway]:
    gateway = launch(config_path, {"REDIS_HOST": redis_server.host, "REDIS_PORT": str(redis_server.port)})
    try:
        # One request per instance, sent together: both LiteLLMs boot in parallel.
        with ThreadPoolExecutor(len(INSTANCES)) as pool:
            warm = list(pool.map(lambda name: chat(gateway, "gpt-4o-mini", f"warm {name}", affinity_key(name)),
                                 INSTANCES))
        assert [r.status_code for r in warm] == [200, 200], [r.text for r in warm]
        yield gateway
    finally:
        gateway.stop()


def test_production_config_takes_redis_from_the_environment() -> None:
    assert production_redis_settings() == {"redis_host": "os.environ/REDIS_HOST",
                                           "redis_port": "os.environ/REDIS_PORT",
                                           "redis_password": "os.environ/REDIS_PASSWORD"}


def test_health_lists_every_instance_and_starts_none(plain: Plain) -> None:
    body = plain.cold_health
    assert [item["name"] for item in body["instances"]] == list(INSTANCES)
    assert {item["name"]: item["state"] for item in body["instances"]} == dict.fromkeys(INSTANCES, "stopped")
    assert body["config"]["container_instances"] == 2
    assert body["status"] == "ok"
    never_started = [item["running"] is False and item["pid"] is None for item in plain.containers_after_health]
    assert all(never_started), plain.containers_after_health


def test_affinity_key_stays_on_one_instance(plain: Plain) -> None:
    gateway, key = plain.gateway, affinity_key("litellm-1")
    before = served(gateway)
    answers = [chat(gateway, "gpt-4o-mini", f"sticky {n}", key) for n in range(6)]
    assert [r.status_code for r in answers] == [200] * 6, answers[-1].text
    assert served_since(gateway, before, 6) == Counter({"litellm-1": 6})
    assert running(gateway) == {"litellm-1"}  # the other instance was never even started
    assert states(gateway) == {"litellm-0": "stopped", "litellm-1": "ready"}


def test_unset_redis_settings_cost_nothing(plain: Plain) -> None:
    gateway, key = plain.gateway, affinity_key("litellm-1")
    assert chat(gateway, "gpt-4o-mini", "boot if needed", key).status_code == 200
    answers = [chat(gateway, "pair", f"no redis {n}", key) for n in range(5)]
    assert [r.status_code for r in answers] == [200] * 5
    # A Redis LiteLLM could not reach would cost seconds per call (5 s socket timeout) and log errors.
    assert max(r.elapsed.total_seconds() for r in answers) < 2.0
    container_lines = [line for line in gateway.log_text().splitlines() if line.startswith("[litellm-")]
    assert container_lines and not [line for line in container_lines if "redis" in line.lower()]


def test_requests_without_affinity_spread_over_both_instances(shared: Gateway) -> None:
    before = served(shared)
    answers = [chat(shared, "gpt-4o-mini", f"spread {n}") for n in range(10)]
    assert [r.status_code for r in answers] == [200] * 10
    counts = served_since(shared, before, 10)
    assert counts.total() == 10, counts
    assert min(counts[name] for name in INSTANCES) >= 3, counts  # round-robin gives 5 + 5
    assert running(shared) == set(INSTANCES)
    assert states(shared) == dict.fromkeys(INSTANCES, "ready")
    ports = {c["port"] for c in shared.containers() if c["running"]}
    assert len(ports) == 2, "two Durable Object ids must own two containers on different ports"


def test_cooldown_reached_through_one_instance_holds_on_the_other(
        shared: Gateway, provider: FakeProvider, redis_server: RedisServer) -> None:
    via_a, via_b = affinity_key("litellm-0"), affinity_key("litellm-1")
    for attempt in range(12):  # simple-shuffle: each try picks the failing deployment with p = 1/2
        assert chat(shared, "cool-pair", f"cool a {attempt}", via_a).status_code in (200, 429)
        if provider.stats()["hits"].get(COOL_BAD):
            break
    assert provider.stats()["hits"].get(COOL_BAD) == 1, "instance A never picked the failing deployment"
    wait_for(lambda: redis_server.keys("deployment:*:cooldown"), 3, message="the cooldown did not reach Redis")
    time.sleep(COOLDOWN_READ_INTERVAL_S + 0.2)

    before = served(shared)
    answers = [chat(shared, "cool-pair", f"cool b {n}", via_b) for n in range(10)]
    assert [r.status_code for r in answers] == [200] * 10
    assert served_since(shared, before, 10) == Counter({"litellm-1": 10})
    hits = provider.stats()["hits"]
    # Without the shared cooldown, 10 shuffled picks avoid the failing deployment with p = 1/1024.
    assert hits.get(COOL_BAD) == 1 and hits.get(COOL_OK, 0) >= 10, hits


def test_rpm_limit_holds_across_instances(shared: Gateway, provider: FakeProvider) -> None:
    into_minute = time.time() % 60  # LiteLLM counts rpm per UTC minute: stay inside one
    if into_minute > 54:
        time.sleep(60.2 - into_minute)
    via_a, via_b = affinity_key("litellm-0"), affinity_key("litellm-1")
    before = served(shared)
    first = [chat(shared, "capped", f"rpm a {n}", via_a) for n in range(3)]
    second = [chat(shared, "capped", f"rpm b {n}", via_b) for n in range(3)]
    assert [r.status_code for r in first] == [200, 200, 200], first[-1].text
    assert [r.status_code for r in second] == [200, 429, 429], [r.text for r in second]
    assert served_since(shared, before, 6) == Counter({"litellm-0": 3, "litellm-1": 3})
    assert provider.stats()["hits"].get(CAPPED) == RPM_LIMIT
    refusal = openai_error(second[-1])
    assert "rpm limit" in refusal["message"].lower(), refusal
    assert second[-1].headers.get("retry-after") == "60"  # LiteLLM's window, promoted by the edge
