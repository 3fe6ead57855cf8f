"""`python -m bench.levers`: A/B a lever on LiteLLM direct (boot, sequential, concurrency 16).

    python -m bench.levers --variant 'before:PYTHON_GC_THRESHOLD=' --variant 'after:' --rounds 3

A variant is NAME:KEY=VALUE;KEY=VALUE... (env for start.sh; `pycache=none|site|all` picks the bytecode,
`start=FILE` an alternative start script to try before editing container/start.sh).
Variants run interleaved (A B A B ...) so a neighbour's load spreads over both; the table shows
medians per variant. Results feed bench/LEVERS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness import FakeProvider, LiteLLMDirect
from tests.harness.litellm import START_SH
from tests.harness.procs import group_rss_mb

from .config import STREAM_MODEL, Counts, pycache_prefix, render_bench_config, strong_key
from .measure import Target, concurrent, sequential

COUNTS = Counts(warmup=30, sequential=200, concurrency=16, seconds=6.0, streams=0)


@dataclass
class Variant:
    name: str
    env: dict[str, str]
    pycache: str
    start: Path


def parse_variant(spec: str) -> Variant:
    name, _, rest = spec.partition(":")
    env = dict(pair.split("=", 1) for pair in rest.split(";") if pair)
    return Variant(name, env, env.pop("pycache", "all"), Path(env.pop("start", str(START_SH))))


def one_round(variant: Variant, config: Path, workdir: Path, boot_only: bool) -> dict[str, float]:
    env = {"PYTHONPYCACHEPREFIX": str(pycache_prefix(variant.pycache)), **variant.env}
    direct = LiteLLMDirect(config, strong_key(), env, workdir / f"{variant.name}.log", start=variant.start)
    try:
        wall, cpu = direct.wait_ready()
        row = {"boot_wall_s": wall, "boot_cpu_s": cpu, "boot_rss_mb": group_rss_mb(direct.proc.pid)}
        if boot_only:
            return row
        target = Target(variant.name, direct.url, direct.master_key, STREAM_MODEL, cpu={"litellm": direct.cpu})
        seq = sequential(target, COUNTS)
        conc = concurrent(target, COUNTS)
        row.update(
            seq_p50_ms=seq["p50_ms"],
            seq_p99_ms=seq["p99_ms"],
            seq_cpu_ms=seq["cpu_ms_per_request"]["litellm"],
            c16_rps=conc["throughput_rps"],
            c16_p99_ms=conc["p99_ms"],
            c16_cpu_ms=conc["cpu_ms_per_request"]["litellm"],
            rss_mb=group_rss_mb(direct.proc.pid),
            other_cores=max(seq["foreign_cpu_cores"], conc["foreign_cpu_cores"]),
        )
        return row
    finally:
        direct.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.levers")
    p.add_argument("--variant", action="append", required=True, help="NAME:KEY=VALUE;KEY=VALUE")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--boot-only", action="store_true", help="measure boots only (faster)")
    args = p.parse_args(argv)
    variants = [parse_variant(v) for v in args.variant]
    rows: dict[str, list[dict[str, float]]] = {v.name: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="litellm-levers-") as tmp, FakeProvider.start() as fake:
        config = Path(tmp) / "litellm_config.yaml"
        config.write_text(render_bench_config(fake.url))
        for r in range(args.rounds):
            for v in variants:
                row = one_round(v, config, Path(tmp), args.boot_only)
                rows[v.name].append(row)
                print(f"[levers] round {r + 1} {v.name}: " + ", ".join(f"{k}={x:.2f}" for k, x in row.items()),
                      file=sys.stderr, flush=True)
    keys = list(next(iter(rows.values()))[0])
    print("| variant | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, runs in rows.items():
        med: dict[str, Any] = {k: statistics.median(run[k] for run in runs) for k in keys}
        print(f"| {name} | " + " | ".join(f"{med[k]:.2f}" for k in keys) + " |")
    print(f"(medians of {args.rounds} interleaved rounds; env per variant: "
          + "; ".join(f"{v.name}={v.env or {}} pycache={v.pycache}" for v in variants) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
