"""`python -m bench.edge_profile`: where the edge's CPU goes for one sequential chat request (local runtime).

Upstream mode isolates the edge: the runtime runs without containers and fronts a LiteLLM started here
(`LITELLM_UPSTREAM_URL`), so the node process's CPU is the Worker, the Durable Object and HTTP, nothing else.
Three looks at the same kind of request (a plain chat, or with `--stream` a streamed one), on one keep-alive
connection:
  1. `node --cpu-prof` over sequential requests through the edge, and over requests the Worker answers itself
     (a 401): self time by kind of code (Python in Wasm, Pyodide's bridge, Node streams / fetch / HTTP, GC);
  2. cProfile inside Pyodide: which Python functions (profiler overhead inflates call-heavy code);
  3. timings of single steps (Settings.from_lookup, header crossings, logging, request policy), no profiler.
The runtime runs from a throwaway copy of local/ and worker/ whose main module is bench/profiled_entry.py.
Prints Markdown; writes bench/edge_profile.json. The figures behind bench/LEVERS.md "Where the edge's CPU goes".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.harness import FakeProvider, Gateway, LiteLLMDirect, start_gateway, wait_for
from tests.harness.procs import ROOT

from . import cpuprofile
from .config import CHAT_MODEL, STREAM_MARKER, STREAM_MODEL, pycache_prefix, render_bench_config, strong_key
from .measure import PATH, Target, chat_body, percentile
from .paced import worker_only
from .virtual_keys import generate

WASM = ROOT / "node_modules" / "pyodide" / "pyodide.asm.wasm"
HOOK = ROOT / "bench" / "cpu_profile_hook.cjs"
HANDLE_REQUESTS = 200
PROFILE_INTERVAL_US = 250  # V8's default 1000 µs gives too few samples per request


def say(line: str) -> None:
    print(f"[edge-profile] {line}", file=sys.stderr, flush=True)


def runtime_tree(tmp: Path, name: str = "runtime", rev: str | None = None, profiled: bool = False) -> Path:
    """local/ and worker/ (at git `rev`, or from the directory `rev` names when it holds a worker/, else as in the
    working tree) copied (the runtime finds its root from its own path), the rest linked; `profiled`:
    bench/profiled_entry.py is the main module."""
    tree = tmp / name
    shutil.copytree(ROOT / "local", tree / "local", ignore=shutil.ignore_patterns("test"))
    if rev is None or (Path(rev) / "worker").is_dir():
        source = ROOT if rev is None else Path(rev)
        shutil.copytree(source / "worker", tree / "worker", ignore=shutil.ignore_patterns("__pycache__"))
    else:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "worker"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    config = (ROOT / "wrangler.jsonc").read_text()
    if profiled:
        shutil.copy(ROOT / "bench" / "profiled_entry.py", tree / "worker" / "profiled_entry.py")
        patched = config.replace('"main": "worker/entry.py"', '"main": "worker/profiled_entry.py"')
        assert patched != config, "wrangler.jsonc: main is no longer worker/entry.py"
        config = patched
    (tree / "wrangler.jsonc").write_text(config)
    (ROOT / ".local-cache").mkdir(exist_ok=True)  # the Pyodide snapshot: shared, written atomically
    for link in ("node_modules", ".venv", "package.json", ".local-cache"):
        (tree / link).symlink_to(ROOT / link)
    return tree


def run(target: Target, n: int, no_key: bool = False, stream: bool = False) -> dict[str, Any]:
    """`n` sequential requests on one connection (`no_key`: answered 401 by the Worker alone; `stream`: streamed
    chat, STREAM_CHUNKS chunks read whole): the runtime's CPU per request and the p50."""
    headers = worker_only(target.headers) if no_key else target.headers
    expected = 401 if no_key else 200
    body = (chat_body(STREAM_MODEL, STREAM_MARKER, stream=True) if stream
            else chat_body(CHAT_MODEL, "bench-edge-profile"))
    conn = target.connect()
    latencies = []
    cpu = target.cpu["runtime"]
    try:
        cpu0 = cpu()
        for _ in range(n):
            t = time.perf_counter()
            status, payload = conn.request("POST", PATH, headers, body)
            latencies.append(time.perf_counter() - t)
            if status != expected:
                raise RuntimeError(f"got {status}, expected {expected}: {payload[:200]!r}")
        cpu1 = cpu()
    finally:
        conn.close()
    return {"requests": n, "runtime_cpu_ms": round((cpu1 - cpu0) * 1000 / n, 3),
            "p50_ms": round(percentile(latencies, 50) * 1000, 3)}


def profiled(gateway: Gateway, prof_dir: Path, index: int, target: Target, n: int,
             no_key: bool = False, stream: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """`run` inside one V8 CPU profile (bench/cpu_profile_hook.cjs): the run's figures and the profile's summary."""
    assert gateway.process is not None
    os.kill(gateway.process.pid, signal.SIGUSR2)
    wait_for(lambda: (prof_dir / f"started-{index}").exists(), 10.0)
    figures = run(target, n, no_key, stream)
    os.kill(gateway.process.pid, signal.SIGUSR2)
    done = wait_for(lambda: next(prof_dir.glob(f"{index}.cpuprofile"), None), 30.0)
    samples, per_sample_ms = cpuprofile.load(done, WASM)
    return figures, cpuprofile.summarise(samples, per_sample_ms, n)


def get(target: Target, path: str) -> Any:
    conn = target.connect()
    try:
        status, payload = conn.request("GET", path, target.headers)
    finally:
        conn.close()
    if status != 200:
        raise RuntimeError(f"{path}: {status} {payload[:200]!r}")
    return json.loads(payload) if payload[:1] in (b"{", b"[") else payload.decode()


def profile(requests: int, cprofile_requests: int, workdir: Path, stream: bool = False,
            rev: str | None = None, virtual_key: str | None = None) -> dict[str, Any]:
    prof_dir = workdir / "cpuprof"
    prof_dir.mkdir()
    with FakeProvider.start() as fake:
        config = workdir / "litellm_config.yaml"
        config.write_text(render_bench_config(fake.url))
        say("booting LiteLLM (container/start.sh) for the edge to front")
        litellm = LiteLLMDirect(config, strong_key(), {"PYTHONPYCACHEPREFIX": str(pycache_prefix("all"))},
                                workdir / "litellm.log")
        try:
            litellm.wait_ready()
            env = {"LITELLM_UPSTREAM_URL": litellm.url, "LITELLM_UPSTREAM_KEY": litellm.master_key,
                   "NODE_OPTIONS": f"--require={HOOK}", "BENCH_CPU_PROFILE_DIR": str(prof_dir),
                   "BENCH_CPU_PROFILE_INTERVAL_US": str(PROFILE_INTERVAL_US)}
            gateway = start_gateway(key=strong_key(), litellm_config=None, containers=False, env=env,
                                    cli=runtime_tree(workdir, rev=rev, profiled=True) / "local" / "cli.mjs",
                                    log_file=workdir / "gw.log")
            try:
                key = gateway.key
                if virtual_key is not None:  # the same requests with a virtual key: its two key-object calls
                    key, _ = generate(gateway, "edge-profile", **json.loads(virtual_key))
                target = Target("edge", gateway.url, key, CHAT_MODEL, cpu={"runtime": gateway.runtime_cpu})
                say("warming up")
                run(target, 20 if stream else 200, stream=stream)
                run(target, 100, no_key=True)
                windows = {"plain": run(target, requests, stream=stream)}  # no profiler: what the others compare with
                say(f"V8 CPU profile: {requests} requests through the edge, {requests} answered 401")
                nodeprof = {}
                windows["edge"], nodeprof["edge"] = profiled(gateway, prof_dir, 0, target, requests, stream=stream)
                windows["worker"], nodeprof["worker"] = profiled(gateway, prof_dir, 1, target, requests, no_key=True)
                say(f"cProfile in Pyodide over {cprofile_requests} requests")
                get(target, "/__bench/profile/start")
                windows["cprofile"] = run(target, cprofile_requests, stream=stream)
                stats = get(target, "/__bench/profile/stop")
                micro = get(target, "/__bench/micro")
                say(f"event-loop callbacks over {HANDLE_REQUESTS} requests")
                get(target, "/__bench/handles/start")
                run(target, HANDLE_REQUESTS, stream=stream)
                loop_stats = get(target, "/__bench/handles/stop")
            finally:
                gateway.stop()
        finally:
            litellm.stop()
    return {"windows": windows, "interval_us": PROFILE_INTERVAL_US, "node": nodeprof, "cprofile": stats,
            "micro_us": micro, "loop_callbacks_per_request": loop_stats["count"] / HANDLE_REQUESTS,
            "python_gc": {"requests": HANDLE_REQUESTS, "runs": loop_stats.get("gc_runs", {}),
                          "ms": loop_stats.get("gc_ms", {})}}


def render(out: dict[str, Any]) -> None:
    w, node = out["windows"], out["node"]
    print(f"## Where the edge's CPU goes (local runtime, upstream mode, sequential; sample every "
          f"{out['interval_us']:.0f} µs)\n")
    print(f"Runtime CPU/request: through the edge {w['plain']['runtime_cpu_ms']:.2f} ms unprofiled, "
          f"{w['edge']['runtime_cpu_ms']:.2f} ms with the V8 profiler (p50 {w['edge']['p50_ms']:.2f}), "
          f"Worker-only 401 {w['worker']['runtime_cpu_ms']:.2f} ms, with cProfile "
          f"on {w['cprofile']['runtime_cpu_ms']:.2f} ms. Main-thread samples: edge "
          f"{node['edge']['busy_ms_per_request']:.2f} ms, Worker-only "
          f"{node['worker']['busy_ms_per_request']:.2f} ms.\n")
    print("| self time by kind of code | edge ms/req | share | Worker-only ms/req |\n|---|---|---|---|")
    worker = {row["what"]: row["ms_per_request"] for row in node["worker"]["by_category"]}
    for row in node["edge"]["by_category"]:
        print(f"| {row['what']} | {row['ms_per_request']:.3f} | {row['share']:.1%} "
              f"| {worker.get(row['what'], 0):.3f} |")
    print("\n| top self functions (edge) | ms/req | share |\n|---|---|---|")
    for row in node["edge"]["by_function"]:
        print(f"| `{row['what']}` | {row['ms_per_request']:.3f} | {row['share']:.1%} |")
    n = w["cprofile"]["requests"]
    print(f"\n| cProfile, cumulative (Python, {n} requests) | calls/req | cum ms/req | self ms/req |")
    print("|---|---|---|---|")
    for row in out["cprofile"]["by_cumtime"][:40]:
        print(f"| `{row['function']}` | {row['calls'] / n:.1f} | {row['cumtime_s'] * 1000 / n:.3f} "
              f"| {row['tottime_s'] * 1000 / n:.3f} |")
    print("\n| one step, no profiler | µs |\n|---|---|")
    for name, us in out["micro_us"].items():
        print(f"| {name} | {us:.1f} |")
    print(f"\nEvent-loop callbacks (task steps, done callbacks, JS-promise wake-ups; each a JS timer and a new "
          f"proxy) per request: {out['loop_callbacks_per_request']:.2f}")
    gc_runs, gc_ms = out["python_gc"]["runs"], out["python_gc"]["ms"]
    print(f"Python's cyclic collector over {out['python_gc']['requests']} requests: " + (", ".join(
        f"generation {gen}: {gc_runs[gen]} runs, {gc_ms[gen]:.1f} ms" for gen in sorted(gc_runs)) or "no runs"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.edge_profile", description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=1500, help="requests per node --cpu-prof window")
    p.add_argument("--cprofile-requests", type=int, default=300)
    p.add_argument("--stream", action="store_true", help="streamed chats (STREAM_CHUNKS chunks STREAM_DELAY_MS "
                   "apart: ~0.45 s each, so use fewer requests) instead of plain ones; the 401s stay plain")
    p.add_argument("--rev", help="profile worker/ at this git revision, or in this directory (default: the tree)")
    p.add_argument("--virtual-key", metavar="JSON", help='through a virtual key generated with these settings, '
                   'e.g. \'{}\' or \'{"rpm_limit": 100000}\' (default: the master key)')
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "edge_profile.json")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="edge-profile-") as tmp:
        out = profile(args.requests, args.cprofile_requests, Path(tmp), args.stream, args.rev,
                      args.virtual_key)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    render(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
