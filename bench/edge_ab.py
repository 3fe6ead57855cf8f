"""`python -m bench.edge_ab REV`: A/B an edge change — worker/ at git REV (or in directory REV) against the tree.

    python -m bench.edge_ab HEAD~1 --rounds 6 --requests 150
    python -m bench.edge_ab /tmp/snapshot --streams 20     # /tmp/snapshot/worker: a copy taken before the change

Two local runtimes (each from a throwaway copy of local/ and of its worker/) front one LiteLLM in upstream
mode, so the node processes' CPU is the edge alone (Worker + Durable Objects + HTTP), and both meet the
same LiteLLM. Rounds interleave A B / B A on one keep-alive connection each: sequential chat with the
master key, then requests the Worker answers alone (401), and with `--streams N` N streamed chats (STREAM_CHUNKS
chunks STREAM_DELAY_MS apart: their CPU per stream is the relay's and the metering's per-chunk work). Prints the
medians; the records are in bench/LEVERS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from tests.harness import FakeProvider, LiteLLMDirect, start_gateway

from .config import CHAT_MODEL, pycache_prefix, render_bench_config, strong_key
from .edge_profile import run, runtime_tree
from .measure import Target
from .virtual_keys import generate


def compare(rev: str, rounds: int, requests: int, streams: int, workdir: Path,
            virtual_key: str | None = None) -> dict[str, dict[str, list[float]]]:
    figures: dict[str, dict[str, list[float]]] = {}
    with FakeProvider.start() as fake:
        config = workdir / "litellm_config.yaml"
        config.write_text(render_bench_config(fake.url))
        litellm = LiteLLMDirect(config, strong_key(), {"PYTHONPYCACHEPREFIX": str(pycache_prefix("all"))},
                                workdir / "litellm.log")
        gateways = []
        try:
            litellm.wait_ready()
            targets = {}
            for name, tree_rev in ((f"A ({rev})", rev), ("B (working tree)", None)):
                env = {"LITELLM_UPSTREAM_URL": litellm.url, "LITELLM_UPSTREAM_KEY": litellm.master_key}
                gateway = start_gateway(key=strong_key(), litellm_config=None, containers=False, env=env,
                                        cli=runtime_tree(workdir, name[0], tree_rev) / "local" / "cli.mjs",
                                        log_file=workdir / f"{name[0]}.log")
                gateways.append(gateway)
                key = gateway.key if virtual_key is None else generate(gateway, "edge-ab", **json.loads(virtual_key))[0]
                targets[name] = Target(name, gateway.url, key, CHAT_MODEL,
                                       cpu={"runtime": gateway.runtime_cpu})
                figures[name] = {"edge_cpu_ms": [], "p50_ms": [], "worker_only_cpu_ms": [], "stream_cpu_ms": []}
            for target in targets.values():  # warm both before anything counts
                run(target, 100)
                run(target, 50, no_key=True)
            for index in range(rounds):
                for name in (list(targets) if index % 2 == 0 else list(targets)[::-1]):
                    through = run(targets[name], requests)
                    figures[name]["edge_cpu_ms"].append(through["runtime_cpu_ms"])
                    figures[name]["p50_ms"].append(through["p50_ms"])
                    alone = run(targets[name], requests // 2, no_key=True)
                    figures[name]["worker_only_cpu_ms"].append(alone["runtime_cpu_ms"])
                    if streams:
                        streamed = run(targets[name], streams, stream=True)
                        figures[name]["stream_cpu_ms"].append(streamed["runtime_cpu_ms"])
        finally:
            for gateway in gateways:
                gateway.stop()
            litellm.stop()
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.edge_ab", description=__doc__.splitlines()[0])
    p.add_argument("rev", help="the git revision whose worker/ is A, or a directory holding A's worker/ "
                   "(B is the working tree)")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--requests", type=int, default=150, help="sequential chat requests per kind and round")
    p.add_argument("--streams", type=int, default=0, help="streamed chats per kind and round (0: none)")
    p.add_argument("--virtual-key", metavar="JSON", help="every request through a virtual key generated with these "
                   "settings on each side, e.g. '{}' or '{\"rpm_limit\": 100000}' (default: the master key)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="edge-ab-") as tmp:
        figures = compare(args.rev, args.rounds, args.requests, args.streams, Path(tmp), args.virtual_key)
    print("| worker/ | edge CPU/req (ms) | per round | p50 (ms) | Worker-only 401 CPU/req (ms) | CPU/stream (ms) |")
    print("|---|---|---|---|---|---|")
    for name, rows in figures.items():
        per_stream = f"{statistics.median(rows['stream_cpu_ms']):.2f}" if rows["stream_cpu_ms"] else "n/a"
        print(f"| {name} | {statistics.median(rows['edge_cpu_ms']):.2f} | "
              f"{', '.join(f'{x:.1f}' for x in rows['edge_cpu_ms'])} | {statistics.median(rows['p50_ms']):.2f} "
              f"| {statistics.median(rows['worker_only_cpu_ms']):.2f} | {per_stream} |")
    a, b = (statistics.median(rows["edge_cpu_ms"]) for rows in figures.values())
    print(f"\nB ÷ A edge CPU per request: {b / a:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
