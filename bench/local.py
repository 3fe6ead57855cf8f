"""Phases against processes the bench starts itself: LiteLLM direct, the local runtime with N=1 and N=2."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.harness import FakeProvider, Gateway, LiteLLMDirect, start_gateway
from tests.harness.procs import group_cpu, pid_cpu

from .config import CHAT_MODEL, FIRST_REQUEST_TIMEOUT_S, STREAM_MODEL, Counts, strong_key, worker_module
from .measure import PATH, Target, chat_body, concurrent, foreign_since, mark, run_target
from .paced import Pair, paced_rounds
from .stream_delay import stream_delay_rounds
from .virtual_keys import key_rounds

Say = Callable[[str], None]


def container_key(client_key: str) -> str:
    """The key the Durable Object starts LiteLLM with (worker/rules/auth.py): to reach that LiteLLM directly."""
    return worker_module("rules.auth").container_key(client_key)


def running_pgids(gateway: Gateway) -> list[int]:
    return [int(c["pid"]) for c in gateway.running() if c.get("pid")]


def stop(gateway: Gateway, name: str, results: dict[str, Any]) -> None:
    left = gateway.stop()
    if left:
        results["leftovers"].append(f"{name} process groups {left} (killed by the bench)")


def bench_litellm_direct(config: Path, env: dict[str, str], runtime_env: dict[str, str], workdir: Path,
                         fake: FakeProvider, counts: Counts, results: dict[str, Any], say: Say) -> None:
    say("LiteLLM direct: booting container/start.sh")
    assert fake.proc is not None
    start, client0, fake0 = mark(), time.process_time(), pid_cpu(fake.proc.pid)
    direct = LiteLLMDirect(config, strong_key(), env, workdir / "litellm-direct.log")
    try:
        wall, cpu = direct.wait_ready()
        ours = cpu + time.process_time() - client0 + pid_cpu(fake.proc.pid) - fake0
        results["cold_start"].update(litellm_boot_wall_s=round(wall, 3), litellm_boot_cpu_s=round(cpu, 3),
                                     litellm_boot_other_cores=foreign_since(start, ours))
        say(f"LiteLLM direct: ready in {wall:.2f}s wall, {cpu:.2f}s CPU")
        fake_pid = fake.proc.pid
        target = Target("LiteLLM direct", direct.url, direct.master_key, STREAM_MODEL,
                        cpu={"litellm": direct.cpu, "provider": lambda: pid_cpu(fake_pid)})
        results["targets"]["litellm"] = run_target(target, counts, say)
        results["stream_delay"] = stream_delay_rounds(direct.url, direct.master_key, counts.rounds, counts.streams,
                                                      runtime_env, workdir, say, counts.per_round)
    finally:
        if not direct.stop():
            results["leftovers"].append("LiteLLM direct process group")


def first_request(gateway: Gateway, marker: str) -> tuple[int, bytes]:
    target = Target("gateway", gateway.url, gateway.key, STREAM_MODEL)
    conn = target.connect(FIRST_REQUEST_TIMEOUT_S)
    try:
        return conn.request("POST", PATH, target.headers, chat_body(CHAT_MODEL, marker))
    finally:
        conn.close()


def bench_gateway(config: Path, env: dict[str, str], runtime_env: dict[str, str], workdir: Path,
                  fake: FakeProvider, counts: Counts, results: dict[str, Any], say: Say) -> None:
    say("gateway: starting the local runtime")
    assert fake.proc is not None
    fake_pid = fake.proc.pid
    log = workdir / "gateway.log"
    gateway = start_gateway(key=strong_key(), litellm_config=config, container_env=env, env=runtime_env,
                            log_file=log)
    cold = results["cold_start"]
    try:
        assert gateway.ready_s is not None
        cold.update(runtime_start_wall_s=round(gateway.ready_s, 3),
                    runtime_start_cpu_s=round(gateway.runtime_cpu(), 3))
        say(f"gateway: runtime ready in {gateway.ready_s:.2f}s; first request (starts LiteLLM)")
        cpu0 = gateway.runtime_cpu() + time.process_time() + pid_cpu(fake_pid)
        phase = mark()
        start = time.perf_counter()
        status, body = first_request(gateway, "bench-cold")
        first = time.perf_counter() - start
        answered_at = time.time()
        if status != 200:
            raise RuntimeError(f"gateway: first request got {status}: {body[:300]!r} (see {log})")
        [container] = gateway.running()
        pgid = int(container["pid"])
        litellm_cpu = group_cpu(pgid)
        ours = litellm_cpu + gateway.runtime_cpu() + time.process_time() + pid_cpu(fake_pid) - cpu0
        spawned = datetime.datetime.fromisoformat(container["startedAt"].replace("Z", "+00:00")).timestamp()
        cold.update(gateway_first_request_s=round(first, 3),
                    gateway_litellm_cpu_s=round(litellm_cpu, 3),
                    gateway_first_request_other_cores=foreign_since(phase, ours),
                    gateway_container_to_first_200_s=round(answered_at - spawned, 3))
        say(f"gateway: first request answered in {first:.2f}s")
        target = Target("gateway", gateway.url, gateway.key, STREAM_MODEL,
                        cpu={"litellm": lambda: group_cpu(pgid), "runtime": gateway.runtime_cpu,
                             "provider": lambda: pid_cpu(fake_pid)})
        results["targets"]["gateway"] = run_target(target, counts, say)
        # The container's LiteLLM by its own port: the same process, measured directly.
        direct = Target("gateway's LiteLLM direct", f"http://127.0.0.1:{container['port']}",
                        container_key(gateway.key), STREAM_MODEL)
        say(f"like for like: {counts.rounds} rounds of {counts.per_round} requests per kind")
        results["paced"] = paced_rounds(Pair(target, direct, lambda: group_cpu(pgid), gateway.runtime_cpu),
                                        counts.rounds, counts.per_round, counts.warmup)
        results["virtual_keys"] = key_rounds(gateway, lambda: group_cpu(pgid), counts, say)
    finally:
        stop(gateway, "gateway", results)


def bench_gateway_scaled(config: Path, env: dict[str, str], runtime_env: dict[str, str], workdir: Path,
                         counts: Counts, results: dict[str, Any], say: Say) -> None:
    """CONTAINER_INSTANCES=2: how throughput at c16 scales when requests spread over two containers."""
    say("gateway N=2: starting the local runtime with CONTAINER_INSTANCES=2")
    gateway = start_gateway(key=strong_key(), litellm_config=config, container_env=env,
                            env={**runtime_env, "CONTAINER_INSTANCES": "2"}, log_file=workdir / "gateway-n2.log")
    try:
        with ThreadPoolExecutor(2) as pool:  # round-robin: the two first requests boot both, in parallel
            statuses = [s for s, _ in pool.map(lambda i: first_request(gateway, f"bench-n2-{i}"), range(2))]
        pgids = running_pgids(gateway)
        if statuses != [200, 200] or len(pgids) != 2:
            raise RuntimeError(f"gateway N=2: first requests {statuses}, running containers {pgids}")
        target = Target("gateway N=2", gateway.url, gateway.key, STREAM_MODEL,
                        cpu={"litellm": lambda: sum(group_cpu(pgid) for pgid in pgids),
                             "runtime": gateway.runtime_cpu})
        say(f"gateway N=2: concurrency {counts.concurrency} for {counts.seconds:g}s")
        results["targets"]["gateway_n2"] = {"concurrent": concurrent(target, counts)}
    finally:
        stop(gateway, "gateway N=2", results)
