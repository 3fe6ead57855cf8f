"""`python -m bench` (`make bench`): what the gateway costs, side by side in one run.

Against one fake provider on loopback, in sequence (never two LiteLLMs at once: 2 cores):
  1. provider direct  - the floor: the fake itself and the client;
     floors             - the least Worker → Durable Object → provider relay, and one Durable Object RPC call with
                          a SQLite write, in the same runtime, interleaved with the provider (bench/floors.py);
                          the report sets the gateway's edge against them;
  2. LiteLLM direct   - container/start.sh, the same start command as the image (skipped by --smoke);
     stream delay       - the gateway (upstream mode) and the relay floor in front of that LiteLLM, interleaved
                          with it: each chunk's delay like for like, first chunks apart (bench/stream_delay.py);
  3. whole gateway    - node local/cli.mjs: Worker + Durable Object in Pyodide + LiteLLM started on demand;
     then like for like (bench/paced.py): that container's LiteLLM through the edge and by its own port,
     interleaved in rounds, plus the edge's CPU split into Worker and Durable Object;
  4. gateway, N=2     - CONTAINER_INSTANCES=2: two containers behind one edge, concurrency phase only;
  5. cold burst       - CONTAINER_INSTANCES=3, MIN_WARM_INSTANCES=1: a burst warm, then after the idle stop
                        of all but the warm floor (bench/burst.py);
  6. forged key       - a 10 MiB body of 1.25 M tiny objects with a forged gateway key, no key and a random key:
                        time and runtime CPU to the 401 (bench/hostile.py; with GATEWAY_URL too);
  7. memory           - what each shape of request, and 64 streams at once, add to an isolate: a fresh runtime
                        per row in front of one LiteLLM (bench/memory.py; local runtime only);
  8. recent ring      - what writing the recent-requests ring adds to one booking, with and without it, on
                        CPython's sqlite3 (bench/ring.py; no runtime, so with GATEWAY_URL too).
With GATEWAY_URL (and GATEWAY_KEY) set it measures that gateway instead of starting the local runtime:
LITELLM_URL/LITELLM_KEY name the LiteLLM it fronts (LiteLLM direct and the like-for-like rounds), and
GATEWAY_PID / LITELLM_PID, when those run on this machine, let it read their CPU.
Prints a Markdown report and verdicts on stdout, progress on stderr, and writes bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.harness import FakeProvider
from tests.harness.procs import ROOT, group_cpu, pid_cpu

from . import report
from .burst import bench_cold_burst
from .config import (
    CHAT_MODEL,
    FULL,
    SMOKE,
    STREAM_CHUNKS,
    STREAM_DELAY_MS,
    STREAM_MODEL,
    Counts,
    pycache_prefix,
    render_bench_config,
)
from .floors import floor_rounds, over_floor
from .hostile import bench_forged_local, forged_key_rounds
from .local import bench_gateway, bench_gateway_scaled, bench_litellm_direct
from .measure import Target, run_target
from .memory import memory_rows
from .paced import Pair, paced_rounds
from .ring import measure as ring_rounds

DEFAULT_OUT = ROOT / "bench" / "results.json"


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


def cpu_reader(variable: str, group: bool) -> Callable[[], float] | None:
    """CPU of a process this machine runs, named by its pid in `variable` (its process group's with `group`)."""
    pid = os.environ.get(variable)
    if not pid:
        return None
    if group:
        pgid = os.getpgid(int(pid))
        return lambda: group_cpu(pgid)
    return lambda: pid_cpu(int(pid))


def bench_remote(url: str, counts: Counts, results: dict[str, Any]) -> None:
    """A gateway someone else runs: `wrangler dev`, a deployment; it must serve the bench's model names
    (`python -m bench.config FAKE_URL` renders that LiteLLM config)."""
    runtime, litellm = cpu_reader("GATEWAY_PID", group=False), cpu_reader("LITELLM_PID", group=True)
    gateway = Target("gateway", url, os.environ.get("GATEWAY_KEY", "sk-1234"), STREAM_MODEL,
                     cpu={name: read for name, read in (("runtime", runtime), ("litellm", litellm)) if read})
    direct_url = os.environ.get("LITELLM_URL")
    if direct_url:
        direct = Target("LiteLLM direct", direct_url, os.environ.get("LITELLM_KEY", gateway.key), STREAM_MODEL,
                        cpu={"litellm": litellm} if litellm else {})
        results["targets"]["litellm"] = run_target(direct, counts, say)
    results["targets"]["gateway"] = run_target(gateway, counts, say)
    if direct_url:
        say(f"like for like: {counts.rounds} rounds of {counts.per_round} requests per kind")
        results["paced"] = paced_rounds(Pair(gateway, direct, litellm, runtime), counts.rounds, counts.per_round,
                                        counts.warmup)
    results["forged_key"] = forged_key_rounds(url, runtime, counts, say)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    counts = SMOKE if args.smoke else FULL
    remote = os.environ.get("GATEWAY_URL")
    started = time.perf_counter()
    extra_env = dict(pair.split("=", 1) for pair in args.litellm_env)
    runtime_env = dict(pair.split("=", 1) for pair in args.runtime_env)
    results: dict[str, Any] = {
        "smoke": args.smoke,
        "remote": remote,
        "machine": report.machine(),
        "counts": vars(counts),
        "config": {"pycache": args.pycache, "litellm_env": extra_env, "runtime_env": runtime_env,
                   "stream_chunks": STREAM_CHUNKS,
                   "stream_chunk_delay_ms": STREAM_DELAY_MS, "chat_model": CHAT_MODEL},
        "targets": {},
        "cold_start": {},
        "leftovers": [],
    }
    env = {"PYTHONPYCACHEPREFIX": str(pycache_prefix(args.pycache)), **extra_env}
    with tempfile.TemporaryDirectory(prefix="litellm-bench-") as tmp, FakeProvider.start() as fake:
        workdir = Path(tmp)
        config = workdir / "litellm_config.yaml"
        config.write_text(render_bench_config(fake.url))
        assert fake.proc is not None
        fake_pid = fake.proc.pid
        provider = Target("provider direct", fake.url, "sk-fake-upstream",
                          f"gpt-delay{STREAM_DELAY_MS}-chunks{STREAM_CHUNKS}",
                          cpu={"provider": lambda: pid_cpu(fake_pid)})
        results["targets"]["provider"] = run_target(provider, counts, say)
        if remote:
            say(f"gateway: measuring GATEWAY_URL {remote} (no local runtime started)")
            bench_remote(remote, counts, results)
        else:
            results["floors"] = floor_rounds(fake.url, counts, runtime_env, workdir, results, say)
            say(f"bytecode cache: {args.pycache}")
            if not args.smoke:
                bench_litellm_direct(config, env, runtime_env, workdir, fake, counts, results, say)
            bench_gateway(config, env, runtime_env, workdir, fake, counts, results, say)
            bench_gateway_scaled(config, env, runtime_env, workdir, counts, results, say)
            bench_cold_burst(config, env, runtime_env, workdir, counts, results, say)
            bench_forged_local(runtime_env, workdir, counts, results, say)
            results["memory"] = memory_rows(config, env, runtime_env, workdir, say)
    say(f"recent-requests ring: {counts.rounds} rounds of {counts.ring_bookings} bookings per kind")
    results["ring"] = ring_rounds(counts.rounds, counts.ring_bookings)
    results["ratios"] = report.ratios(results)
    results["over_floor"] = over_floor(results)
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
