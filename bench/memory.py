"""Memory rows (issue "128 MB per isolate" §4): what one request of each shape, and 64 streams at once, add to
what an isolate holds.

Measured as tests/e2e/test_memory.py does (its cases and budgets, imported): a fresh local runtime per case in
upstream mode in front of one LiteLLM (container/start.sh, so no container boot per case), warmed by two small
chats, then a baseline after a full GC (`Gateway.memory_baseline()`); the row is the peak over that baseline
(`Gateway.memory()`: wasm = Pyodide's linear memory, heapUsed = V8's heap, external = memory outside it, which
holds the Wasm memory and arrayBuffers; total = heapUsed + external, each byte once). Peaks are of live memory,
sampled (every 4 ms while requests are in flight, and at request boundaries; local/README.md, "Memory"): lower
bounds, but for wasm.

Budgets and how they map: ≤ 16 MiB growth per request. Locally the Worker and the Durable Object share one
process (one Pyodide, one V8 heap); in workerd the Durable Object is its own isolate with its own 128 MB. What
crosses the hop — a forwarded body, and the answer relayed back — is held by the Durable Object's relay as well,
so it is allowed on top of the 16 MiB (the Durable Object's share; tests/e2e/test_memory.budget_for); a body
refused after a whole read shows the Worker's share alone. 64 concurrent streams: peak total, baseline
included, ≤ 96 MiB.
`python -m bench.memory [--cli PATH | --rev REV]` runs these rows alone (`--rev`: worker/ at REV in this tree's
local runtime, which has the memory endpoint).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.e2e.test_memory import BURST_TOTAL_BUDGET, CASES, MIB, PER_REQUEST_BUDGET, budget_for
from tests.e2e.test_memory import chat_body as messages_body
from tests.harness import FakeProvider, Gateway, LiteLLMDirect, start_gateway
from tests.harness.runtime import CLI

from .config import CHAT_MODEL, STREAM_MODEL, pycache_prefix, render_bench_config, strong_key
from .edge_profile import runtime_tree

FIELDS = ("wasm", "heapUsed", "external", "arrayBuffers", "total")
SMALL_CHAT = "a small chat"
STREAMS = 64
Say = Callable[[str], None]
Case = tuple[str, Callable[[], tuple[bytes, str]], tuple[int, ...]]


def cases() -> dict[str, Case]:
    small: Case = ("/v1/chat/completions",
                   lambda: (messages_body([{"role": "user", "content": "hello"}]), "application/json"), (200,))
    return {SMALL_CHAT: small, **CASES}


@contextlib.contextmanager
def fresh_runtime(upstream: LiteLLMDirect, runtime_env: dict[str, str], log: Path, cli: Path) -> Iterator[Gateway]:
    """A fresh runtime in front of `upstream`, warmed by two small chats, its baseline taken."""
    env = {**runtime_env, "LITELLM_UPSTREAM_URL": upstream.url, "LITELLM_UPSTREAM_KEY": upstream.master_key}
    gateway = start_gateway(key=strong_key(), litellm_config=None, containers=False, env=env, cli=cli, log_file=log)
    try:
        for _ in range(2):
            warm = gateway.chat(CHAT_MODEL, "warm up")
            if warm.status_code != 200:
                raise RuntimeError(f"memory: warm-up got {warm.status_code}: {warm.text[:300]} (see {log})")
        gateway.memory_baseline()
        yield gateway
    finally:
        gateway.stop()


def figures(gateway: Gateway) -> dict[str, Any]:
    """One read of the meter (the test's `growth()` reads it again: the peak may move in between)."""
    memory = gateway.memory()
    base, peak = memory["baseline"], memory["peak"]
    return {"baseline": {f: base[f] for f in FIELDS}, "peak": {f: peak[f] for f in FIELDS},
            "growth": {f: peak[f] - base[f] for f in FIELDS}}


def one_case(name: str, case: Case, open_runtime: Callable[[str], Any]) -> dict[str, Any]:
    path, make, statuses = case
    body, content_type = make()
    with open_runtime(name) as gateway:
        answer = gateway.client.post(path, content=body, headers=gateway.auth(**{"content-type": content_type}))
        out = figures(gateway)
    # The test's rule: 16 MiB plus what crossed the local hop into the Durable Object's share (both ways).
    budget = budget_for(path, len(body), answer.status_code, len(answer.content))
    return {**out, "path": path, "status": answer.status_code, "status_expected": answer.status_code in statuses,
            "body_bytes": len(body), "forwarded_bytes": budget - PER_REQUEST_BUDGET, "budget": budget,
            "within": out["growth"]["total"] <= budget}


def concurrent_streams(gateway: Gateway, n: int) -> dict[str, Any]:
    def one(index: int) -> int:
        payload = {"model": STREAM_MODEL, "stream": True,
                   "messages": [{"role": "user", "content": f"ordinary stream {index} " + "z" * 2000}]}
        with gateway.client.stream("POST", "/v1/chat/completions", json=payload, headers=gateway.auth()) as answer:
            for _ in answer.iter_bytes():
                pass
            return answer.status_code

    with ThreadPoolExecutor(n) as pool:
        statuses = list(pool.map(one, range(n)))
    out = figures(gateway)
    return {**out, "streams": n, "not_200": sum(1 for s in statuses if s != 200), "budget": BURST_TOTAL_BUDGET,
            "within": out["peak"]["total"] <= BURST_TOTAL_BUDGET}


def memory_rows(config: Path, env: dict[str, str], runtime_env: dict[str, str], workdir: Path, say: Say,
                cli: Path = CLI) -> dict[str, Any]:
    say("memory: booting one LiteLLM (container/start.sh) for the fresh runtimes to front")
    upstream = LiteLLMDirect(config, strong_key(), env, workdir / "litellm-memory.log")
    try:
        upstream.wait_ready()
        rows: dict[str, Any] = {}

        def open_runtime(name: str) -> Any:
            return fresh_runtime(upstream, runtime_env, workdir / f"memory-{len(rows)}.log", cli)

        for name, case in cases().items():
            say(f"memory: {name} (fresh runtime)")
            rows[name] = one_case(name, case, open_runtime)
        say(f"memory: {STREAMS} concurrent streams (fresh runtime)")
        with open_runtime("streams") as gateway:
            streams = concurrent_streams(gateway, STREAMS)
    finally:
        upstream.stop()
    return {"idle_baseline": rows[SMALL_CHAT]["baseline"], "cases": rows, "streams": streams,
            "per_request_budget": PER_REQUEST_BUDGET, "burst_total_budget": BURST_TOTAL_BUDGET}


def _mib(value: float) -> str:
    return f"{value / MIB:.1f}"


def memory_table(out: dict[str, Any]) -> str:
    idle = out["idle_baseline"]
    lines = ["| memory † (fresh runtime per row, peak over a GC'd baseline, MiB) | status | body (MiB) | growth: total "
             "| wasm | heapUsed | external | arrayBuffers | budget | within |", "|---" * 10 + "|"]
    lines.append("| idle baseline (after two small chats and a GC) | | | " + " | ".join(
        _mib(idle[f]) for f in ("total", "wasm", "heapUsed", "external", "arrayBuffers")) + " | | |")
    for name, row in out["cases"].items():
        g = row["growth"]
        status = f"{row['status']}" + ("" if row["status_expected"] else " (unexpected)")
        lines.append(f"| {name} | {status} | {_mib(row['body_bytes'])} | **{_mib(g['total'])}** | "
                     + " | ".join(_mib(g[f]) for f in ("wasm", "heapUsed", "external", "arrayBuffers"))
                     + f" | {_mib(row['budget'])} | {'yes' if row['within'] else '**no**'} |")
    s = out["streams"]
    lines.append(f"| {s['streams']} concurrent streams: **peak total {_mib(s['peak']['total'])}** "
                 f"({s['not_200']} not 200) | | | {_mib(s['growth']['total'])} | "
                 + " | ".join(_mib(s["growth"][f]) for f in ("wasm", "heapUsed", "external", "arrayBuffers"))
                 + f" | peak ≤ {_mib(s['budget'])} | {'yes' if s['within'] else '**no**'} |")
    lines += ["", "Budget per request: 16 MiB, plus the bytes that crossed the hop (the forwarded body and the answer; "
              "locally the Worker and the Durable Object share one process; in workerd the Durable Object's relay "
              "is in its own isolate). Part columns are each its own peak (not simultaneous); arrayBuffers is "
              "sampled at request boundaries only."]
    return "\n".join(lines)


def memory_verdicts(out: dict[str, Any] | None) -> list[dict[str, Any]]:
    goal_one = f"≤ {PER_REQUEST_BUDGET // MIB} MiB growth per request (+ the bytes that crossed the hop), every shape"
    goal_burst = f"peak total ≤ {BURST_TOTAL_BUDGET // MIB} MiB for {STREAMS} concurrent streams"
    if not out:
        why = "needs the local runtime's memory endpoint (not measured with GATEWAY_URL)"
        return [{"name": "memory-request", "met": None, "measured": why, "goal": goal_one},
                {"name": "memory-burst", "met": None, "measured": why, "goal": goal_burst}]
    rows = out["cases"].values()
    over = [f"{name} {r['growth']['total'] / MIB:+.1f} > {_mib(r['budget'])}" for name, r in out["cases"].items()
            if not r["within"]]
    odd = [f"{name} answered {r['status']}" for name, r in out["cases"].items() if not r["status_expected"]]
    worst = max(rows, key=lambda r: r["growth"]["total"] - r["forwarded_bytes"])
    measured = (f"{len(rows) - len(over)} of {len(rows)} shapes within; largest over the bytes that crossed the hop "
                f"{(worst['growth']['total'] - worst['forwarded_bytes']) / MIB:+.1f} MiB"
                + (f"; over: {', '.join(over)} MiB" if over else "") + (f"; {', '.join(odd)}" if odd else ""))
    s = out["streams"]
    return [{"name": "memory-request", "met": not over and not odd, "measured": measured, "goal": goal_one},
            {"name": "memory-burst", "met": s["within"] and s["not_200"] == 0,
             "measured": f"peak {_mib(s['peak']['total'])} MiB (baseline {_mib(s['baseline']['total'])}), "
                         f"{s['not_200']} not 200", "goal": goal_burst}]


def tree_at(workdir: Path, rev: str) -> Path:
    """This tree's local runtime with worker/ at `rev` (bench.edge_profile.runtime_tree). A worker/ from before
    WORKER_SECRETS (the runtime asks settings.py which secrets to pass) gets the three it read then, appended."""
    tree = runtime_tree(workdir, "tree", rev)
    settings = tree / "worker" / "settings.py"
    if "WORKER_SECRETS" not in settings.read_text():
        with settings.open("a") as f:
            f.write('\nWORKER_SECRETS = ("LITELLM_MASTER_KEY", "LITELLM_UPSTREAM_URL", "LITELLM_UPSTREAM_KEY")\n')
    return tree / "local" / "cli.mjs"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.splitlines()[0])
    where = p.add_mutually_exclusive_group()
    where.add_argument("--cli", type=Path, default=CLI, help="the local runtime to start (another tree's cli.mjs)")
    where.add_argument("--rev", help="worker/ at this git revision, in this tree's local runtime")
    p.add_argument("--out", type=Path, help="also write the figures as JSON there")
    args = p.parse_args(argv)

    def say(line: str) -> None:
        print(f"[bench] {line}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp, FakeProvider.start() as fake:
        workdir = Path(tmp)
        config = workdir / "litellm_config.yaml"
        config.write_text(render_bench_config(fake.url))
        cli = tree_at(workdir, args.rev) if args.rev else args.cli
        out = memory_rows(config, {"PYTHONPYCACHEPREFIX": str(pycache_prefix("all"))}, {}, workdir, say, cli)
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(memory_table(out))
    for verdict in memory_verdicts(out):
        print(verdict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
