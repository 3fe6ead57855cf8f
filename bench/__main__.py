"""`python -m bench` (`make bench`): what the gateway costs, side by side in one run.

Against one fake provider on loopback, in sequence (never two LiteLLMs at once: 2 cores):
  1. provider direct  - the floor: the fake itself and the client;
  2. LiteLLM direct   - container/start.sh, the same start command as the image (skipped by --smoke);
  3. whole gateway    - node local/cli.mjs: Worker + Durable Object in Pyodide + LiteLLM started on demand;
  4. gateway, N=2     - CONTAINER_INSTANCES=2: two containers behind one edge, concurrency phase only.
Prints a Markdown report and verdicts on stdout, progress on stderr, and writes bench/results.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.fakes.provider_process import FakeProvider

from . import report
from .config import (
    CHAT_MODEL,
    FULL,
    SMOKE,
    STREAM_CHUNKS,
    STREAM_DELAY_MS,
    STREAM_MODEL,
    pycache_prefix,
    render_bench_config,
    strong_key,
)
from .http1 import BlockingConn
from .measure import PATH, Target, chat_body, concurrent, foreign_since, mark, run_target
from .procs import REPO_ROOT, Gateway, LiteLLMDirect, group_cpu, pid_cpu

DEFAULT_OUT = REPO_ROOT / "bench" / "results.json"
FIRST_REQUEST_TIMEOUT_S = 120.0


def say(line: str) -> None:
    print(f"[bench] {line}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny counts, skip LiteLLM direct (checks the harness)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write results.json")
    p.add_argument("--pycache", choices=("none", "site", "all"), default="all",
                   help="bytecode LiteLLM boots with (see config.pycache_prefix); default = what the image ships")
    p.add_argument("--litellm-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra env for both LiteLLMs, to A/B a lever without editing start.sh")
    p.add_argument("--runtime-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra env for the local runtime (e.g. LOG_LEVEL=warning): worker vars are read from it")
    return p.parse_args(argv)


def bench_litellm_direct(config: Path, env: dict[str, str], workdir: Path, fake: FakeProvider, counts: Any,
                         results: dict[str, Any]) -> None:
    say("LiteLLM direct: booting container/start.sh")
    start, client0, fake0 = mark(), time.process_time(), pid_cpu(fake.proc.pid)
    direct = LiteLLMDirect(config, strong_key(), env, workdir / "litellm-direct.log")
    try:
        wall, cpu = direct.wait_ready()
        ours = cpu + time.process_time() - client0 + pid_cpu(fake.proc.pid) - fake0
        results["cold_start"].update(litellm_boot_wall_s=round(wall, 3), litellm_boot_cpu_s=round(cpu, 3),
                                     litellm_boot_other_cores=foreign_since(start, ours))
        say(f"LiteLLM direct: ready in {wall:.2f}s wall, {cpu:.2f}s CPU")
        target = Target("LiteLLM direct", direct.port, direct.master_key, STREAM_MODEL,
                        cpu={"litellm": direct.cpu, "provider": lambda: pid_cpu(fake.proc.pid)})
        results["targets"]["litellm"] = run_target(target, counts, say)
    finally:
        if not direct.stop():
            results["leftovers"].append("LiteLLM direct process group")


def bench_gateway(config: Path, env: dict[str, str], runtime_env: dict[str, str], workdir: Path,
                  fake: FakeProvider, counts: Any, results: dict[str, Any]) -> None:
    say("gateway: starting the local runtime")
    gateway = Gateway(config, strong_key(), env, workdir / "gateway.log", runtime_env=runtime_env)
    cold = results["cold_start"]
    try:
        wall = gateway.wait_ready()
        cold.update(runtime_start_wall_s=round(wall, 3), runtime_start_cpu_s=round(gateway.runtime_cpu(), 3))
        say(f"gateway: runtime ready in {wall:.2f}s; first request (starts LiteLLM)")
        conn = BlockingConn("127.0.0.1", gateway.port, timeout=FIRST_REQUEST_TIMEOUT_S)
        headers = {"Authorization": f"Bearer {gateway.client_key}", "Content-Type": "application/json"}
        cpu0 = gateway.runtime_cpu() + time.process_time() + pid_cpu(fake.proc.pid)
        phase = mark()
        start = time.perf_counter()
        status, body = conn.request("POST", PATH, headers, chat_body(CHAT_MODEL, "bench-cold"))
        first = time.perf_counter() - start
        answered_at = time.time()
        conn.close()
        if status != 200:
            raise RuntimeError(f"gateway: first request got {status}: {body[:300]!r} (see {gateway.log_path})")
        pgid = gateway.litellm_pgid()
        litellm_cpu = group_cpu(pgid)
        ours = litellm_cpu + gateway.runtime_cpu() + time.process_time() + pid_cpu(fake.proc.pid) - cpu0
        container = next(c for c in gateway.containers() if c.get("pid") == pgid)
        spawned = datetime.datetime.fromisoformat(container["startedAt"].replace("Z", "+00:00")).timestamp()
        cold.update(gateway_first_request_s=round(first, 3),
                    gateway_litellm_cpu_s=round(litellm_cpu, 3),
                    gateway_first_request_other_cores=foreign_since(phase, ours),
                    gateway_container_to_first_200_s=round(answered_at - spawned, 3))
        say(f"gateway: first request answered in {first:.2f}s")
        target = Target("gateway", gateway.port, gateway.client_key, STREAM_MODEL,
                        cpu={"litellm": lambda: group_cpu(pgid), "runtime": gateway.runtime_cpu,
                             "provider": lambda: pid_cpu(fake.proc.pid)})
        results["targets"]["gateway"] = run_target(target, counts, say)
    finally:
        left = gateway.stop()
        if left:
            results["leftovers"].append(f"gateway process groups {left} (killed by the bench)")


def bench_gateway_scaled(config: Path, env: dict[str, str], runtime_env: dict[str, str], workdir: Path,
                         counts: Any, results: dict[str, Any]) -> None:
    """CONTAINER_INSTANCES=2: how throughput at c16 scales when requests spread over two containers."""
    say("gateway N=2: starting the local runtime with CONTAINER_INSTANCES=2")
    gateway = Gateway(config, strong_key(), env, workdir / "gateway-n2.log",
                      runtime_env={**runtime_env, "CONTAINER_INSTANCES": "2"})
    try:
        gateway.wait_ready()
        headers = {"Authorization": f"Bearer {gateway.client_key}", "Content-Type": "application/json"}

        def first_request(index: int) -> int:
            conn = BlockingConn("127.0.0.1", gateway.port, timeout=FIRST_REQUEST_TIMEOUT_S)
            try:
                return conn.request("POST", PATH, headers, chat_body(CHAT_MODEL, f"bench-n2-{index}"))[0]
            finally:
                conn.close()

        with ThreadPoolExecutor(2) as pool:  # round-robin: the two first requests boot both, in parallel
            statuses = list(pool.map(first_request, range(2)))
        pgids = [int(c["pid"]) for c in gateway.containers() if c.get("running") and c.get("pid")]
        if statuses != [200, 200] or len(pgids) != 2:
            raise RuntimeError(f"gateway N=2: first requests {statuses}, running containers {pgids}")
        target = Target("gateway N=2", gateway.port, gateway.client_key, STREAM_MODEL,
                        cpu={"litellm": lambda: sum(group_cpu(pgid) for pgid in pgids),
                             "runtime": gateway.runtime_cpu})
        say(f"gateway N=2: concurrency {counts.concurrency} for {counts.seconds:g}s")
        results["targets"]["gateway_n2"] = {"concurrent": concurrent(target, counts)}
    finally:
        left = gateway.stop()
        if left:
            results["leftovers"].append(f"gateway N=2 process groups {left} (killed by the bench)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    counts = SMOKE if args.smoke else FULL
    started = time.perf_counter()
    extra_env = dict(pair.split("=", 1) for pair in args.litellm_env)
    runtime_env = dict(pair.split("=", 1) for pair in args.runtime_env)
    results: dict[str, Any] = {
        "smoke": args.smoke,
        "machine": report.machine(),
        "counts": vars(counts),
        "config": {"pycache": args.pycache, "litellm_env": extra_env, "runtime_env": runtime_env,
                   "stream_chunks": STREAM_CHUNKS,
                   "stream_chunk_delay_ms": STREAM_DELAY_MS, "chat_model": CHAT_MODEL},
        "targets": {},
        "cold_start": {},
        "leftovers": [],
    }
    say(f"bytecode cache: {args.pycache}")
    env = {"PYTHONPYCACHEPREFIX": str(pycache_prefix(args.pycache)), **extra_env}
    with tempfile.TemporaryDirectory(prefix="litellm-bench-") as tmp, FakeProvider.start() as fake:
        workdir = Path(tmp)
        config = workdir / "litellm_config.yaml"
        config.write_text(render_bench_config(fake.url))
        provider = Target("provider direct", fake.port, "sk-fake-upstream",
                          f"gpt-delay{STREAM_DELAY_MS}-chunks{STREAM_CHUNKS}",
                          cpu={"provider": lambda: pid_cpu(fake.proc.pid)})
        results["targets"]["provider"] = run_target(provider, counts, say)
        if not args.smoke:
            bench_litellm_direct(config, env, workdir, fake, counts, results)
        bench_gateway(config, env, runtime_env, workdir, fake, counts, results)
        bench_gateway_scaled(config, env, runtime_env, workdir, counts, results)
    results["ratios"] = report.ratios(results)
    results["verdicts"] = report.verdicts(results)
    results["noise"] = report.noise(results)
    results["duration_s"] = round(time.perf_counter() - started, 1)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    report.render(results)
    if results["leftovers"]:
        print(f"\nWARNING: processes outlived their stop: {results['leftovers']}")
    say(f"done in {results['duration_s']}s; results in {args.out}")
    return 1 if results["leftovers"] else 0


if __name__ == "__main__":
    sys.exit(main())
