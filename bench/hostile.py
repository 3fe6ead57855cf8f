"""The forged-key row (issue "Nothing a caller sends takes the edge down" §4): what a stranger's biggest body
costs the edge before its 401.

One JSON body of 10,000,035 bytes (1.25 M tiny objects `{"a":1}`, compact; under MAX_REQUEST_BYTES = 10 MiB) is
sent three ways, each on its own keep-alive connection, in blocks whose order rotates every round:
  none   - no key at all;
  forged - a forged gateway key: `sk-lr-` + 48 characters, the gateway's format with a mark no secret made
           (refused from the headers alone: no Durable Object, no body read);
  random - a random never-issued key, `sk-` + 48 hex characters, a new one per request (one read-only lookup
           in that key's object, which never writes for a key that does not exist).
Per kind: p50 / p95 wall time to the 401 (the client's whole exchange, the upload included) and the runtime's
CPU per request (a block's CPU over its requests). Before the fix (98d4144) the body was parsed before the key
was judged: 0.8-3.2 s to the 401. `python -m bench.hostile [--cli PATH]` runs this row alone against a fresh
local runtime, e.g. `--cli /tmp/old/local/cli.mjs` for a tree at 98d4144 (bench/LEVERS.md).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.test_hostile_bodies import FORGED
from tests.e2e.test_memory import chat_body as messages_body
from tests.harness import start_gateway
from tests.harness.runtime import CLI

from .config import FULL, SMOKE, Counts, strong_key
from .measure import PATH, foreign_since, mark, percentile

KINDS = ("none", "forged", "random")
TINY_OBJECTS = 1_250_000
GOAL_FORGED_CPU_MS = 1.0  # the forged key's runtime CPU per request over the no-key 401's
GOAL_FORGED_P50_MS = 5.0  # ... and its p50 over the no-key 401's ("a few ms")
BEFORE_NOTE = ("before the fix (98d4144) the body was parsed before the key was judged: 0.8-3.2 s to the 401 "
               "(2026-12-03 here: 0.69-0.84 s p50, ~0.6 s runtime CPU per request; bench/LEVERS.md row 18)")
Say = Callable[[str], None]


def tiny_objects_body() -> bytes:
    return messages_body([{"a": 1}] * TINY_OBJECTS)


def headers_for(kind: str) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if kind == "forged":
        headers["authorization"] = f"Bearer {FORGED}"
    elif kind == "random":
        headers["authorization"] = f"Bearer sk-{secrets.token_hex(24)}"
    return headers


def forged_key_rounds(url: str, cpu: Callable[[], float] | None, counts: Counts, say: Say) -> dict[str, Any]:
    """`counts.forged_rounds` rounds of `counts.forged_per_round` requests per kind, after one of each unmeasured."""
    body = tiny_objects_body()
    say(f"forged key: {counts.forged_rounds} rounds of {counts.forged_per_round} requests per kind "
        f"({', '.join(KINDS)}), {len(body):,}-byte body")
    clients = {kind: httpx.Client(base_url=url, timeout=httpx.Timeout(120.0, connect=5.0)) for kind in KINDS}
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    cpu_s = dict.fromkeys(KINDS, 0.0)

    def one(kind: str) -> float:
        started = time.perf_counter()
        answer = clients[kind].post(PATH, content=body, headers=headers_for(kind))
        elapsed = time.perf_counter() - started
        if answer.status_code != 401:
            raise RuntimeError(f"forged key: {kind} got {answer.status_code}: {answer.text[:300]}")
        return elapsed

    try:
        for kind in KINDS:
            one(kind)  # each connection opened, each path warm
        phase, client0, runtime0 = mark(), time.process_time(), cpu() if cpu else 0.0
        for index in range(counts.forged_rounds):
            shift = index % len(KINDS)
            for kind in KINDS[shift:] + KINDS[:shift]:
                before = cpu() if cpu else 0.0
                latencies[kind] += [one(kind) for _ in range(counts.forged_per_round)]
                cpu_s[kind] += (cpu() - before) if cpu else 0.0
        ours = time.process_time() - client0 + ((cpu() - runtime0) if cpu else 0.0)
        other = foreign_since(phase, ours) if cpu else None
    finally:
        for client in clients.values():
            client.close()
    kinds = {kind: {
        "p50_ms": round(percentile(times, 50) * 1000, 2),
        "p95_ms": round(percentile(times, 95) * 1000, 2),
        "max_ms": round(max(times) * 1000, 2),
        "runtime_cpu_ms": round(cpu_s[kind] * 1000 / len(times), 2) if cpu else None,
    } for kind, times in latencies.items()}
    none, forged = kinds["none"], kinds["forged"]
    return {
        "body_bytes": len(body),
        "requests_per_kind": counts.forged_rounds * counts.forged_per_round,
        "kinds": kinds,
        "forged_over_none": {
            "p50_ms": round(forged["p50_ms"] - none["p50_ms"], 2),
            "runtime_cpu_ms": None if not cpu else round(forged["runtime_cpu_ms"] - none["runtime_cpu_ms"], 2),
        },
        "other_cores": other,
        "note": BEFORE_NOTE,
    }


def forged_table(out: dict[str, Any]) -> str:
    labels = {"none": "no key", "forged": "forged gateway key (`sk-lr-` + 48, no valid mark)",
              "random": "random never-issued key (`sk-` + 48 hex, new each time)"}

    def cell(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    lines = [f"| forged key † ({out['requests_per_kind']} requests each, {out['body_bytes'] / 2**20:.2f} MiB "
             "JSON of 1.25 M tiny objects) | p50 / p95 to the 401 (ms) | max (ms) | runtime CPU/req (ms) |",
             "|---|---|---|---|"]
    for kind, label in labels.items():
        k = out["kinds"][kind]
        lines.append(f"| {label} | {cell(k['p50_ms'])} / {cell(k['p95_ms'])} | {cell(k['max_ms'])} "
                     f"| {cell(k['runtime_cpu_ms'])} |")
    added = out["forged_over_none"]
    other = "n/a" if out["other_cores"] is None else f"{out['other_cores']:.2f}"
    cpu = "runtime CPU not readable" if added["runtime_cpu_ms"] is None else \
        f"{added['runtime_cpu_ms']:+.2f} ms runtime CPU per request"
    lines += ["", f"Forged over no key: {added['p50_ms']:+.2f} ms p50, {cpu}; {out['note']}. "
              f"Other processes meanwhile: {other} cores."]
    return "\n".join(lines)


def forged_verdict(out: dict[str, Any] | None) -> dict[str, Any]:
    goal = (f"forged key ≤ {GOAL_FORGED_CPU_MS:g} ms CPU and ≤ {GOAL_FORGED_P50_MS:g} ms p50 over the no-key 401, "
            "10 MiB body")
    if not out:
        return {"name": "forged-key", "met": None, "measured": "not run", "goal": goal}
    added = out["forged_over_none"]
    cpu = added["runtime_cpu_ms"]
    met = added["p50_ms"] <= GOAL_FORGED_P50_MS and (cpu is None or cpu <= GOAL_FORGED_CPU_MS)
    k = out["kinds"]
    measured = (f"p50 {k['forged']['p50_ms']:.2f} vs {k['none']['p50_ms']:.2f} ms ({added['p50_ms']:+.2f}), CPU "
                + ("not readable (set GATEWAY_PID)" if cpu is None else
                   f"{k['forged']['runtime_cpu_ms']:.2f} vs {k['none']['runtime_cpu_ms']:.2f} ms ({cpu:+.2f})"))
    return {"name": "forged-key", "met": met, "measured": measured, "goal": goal}


def bench_forged_local(runtime_env: dict[str, str], workdir: Path, counts: Counts, results: dict[str, Any],
                       say: Say, cli: Path = CLI) -> None:
    """Against a fresh local runtime with no LiteLLM behind it: no request of this row gets past the Worker."""
    say("forged key: starting a local runtime (no LiteLLM: every answer is a 401)")
    gateway = start_gateway(key=strong_key(), litellm_config=None, containers=False, env=runtime_env, cli=cli,
                            log_file=workdir / "gateway-forged.log")
    try:
        results["forged_key"] = forged_key_rounds(gateway.url, gateway.runtime_cpu, counts, say)
    finally:
        left = gateway.stop()
        if left:
            results["leftovers"].append(f"forged-key runtime process groups {left} (killed by the bench)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny counts (checks the harness)")
    p.add_argument("--cli", type=Path, default=CLI, help="the local runtime to start (another tree's local/cli.mjs)")
    p.add_argument("--rounds", type=int, help="rounds (default: the bench's)")
    p.add_argument("--per-round", type=int, help="requests per kind and round (default: the bench's)")
    p.add_argument("--out", type=Path, help="also write the figures as JSON there")
    args = p.parse_args(argv)
    base = SMOKE if args.smoke else FULL
    counts = Counts(**{**vars(base), "forged_rounds": args.rounds or base.forged_rounds,
                       "forged_per_round": args.per_round or base.forged_per_round})
    results: dict[str, Any] = {"leftovers": []}
    with tempfile.TemporaryDirectory(prefix="bench-forged-") as tmp:
        bench_forged_local({}, Path(tmp), counts, results, lambda line: print(f"[bench] {line}", file=sys.stderr),
                           cli=args.cli)
    if args.out:
        args.out.write_text(json.dumps(results["forged_key"], indent=2) + "\n")
    print(forged_table(results["forged_key"]))
    print(f"\n{forged_verdict(results['forged_key'])}")
    return 1 if results["leftovers"] else 0


if __name__ == "__main__":
    sys.exit(main())
