"""Like for like: one LiteLLM process measured through the gateway and directly, interleaved in rounds.

Why: a sequential LiteLLM behind the gateway idles between requests (the edge's share of each request),
and on these VMs work that starts after an idle pause is charged more CPU; runs minutes apart also drift
(FIELD-NOTES §6). So each round measures, against the same process and in a rotating order:
  gateway   - sequential requests through the edge;
  paced     - the same requests sent directly, each starting one gateway latency (this round's median)
              after the previous one: LiteLLM idles as long as behind the gateway;
  unpaced   - directly, back to back (what a plain "LiteLLM direct" figure measures);
  worker    - requests the Worker answers itself (a 401: same path and body, no key): the edge's
              Worker-only CPU, where the runtime's CPU can be read. Not a wrong key: since virtual keys,
              an unknown key is refused by its own key object, one Durable Object call away.
LiteLLM CPU per request gateway ÷ paced is the like-for-like ratio; edge CPU = runtime CPU per gateway
request, split into the Worker-only share and the Durable Object's (the difference).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import CHAT_MODEL
from .http1 import BlockingConn
from .measure import PATH, Target, chat_body, percentile

KINDS = ("gateway", "paced", "unpaced", "worker")


def worker_only(headers: dict[str, str]) -> dict[str, str]:
    """`headers` without a key: answered 401 by the Worker itself, no Durable Object asked."""
    return {name: value for name, value in headers.items() if name.lower() != "authorization"}


@dataclass
class Pair:
    gateway: Target
    direct: Target  # the LiteLLM behind `gateway`, by its own URL and key
    litellm_cpu: Callable[[], float] | None  # CPU seconds of that LiteLLM, when the bench can read them
    runtime_cpu: Callable[[], float] | None  # CPU seconds of the edge's runtime, likewise


@dataclass
class Tally:
    latencies: list[float]
    litellm_s: float = 0.0
    runtime_s: float = 0.0


def _read(reader: Callable[[], float] | None) -> float:
    return reader() if reader else 0.0


def _segment(pair: Pair, conn: BlockingConn, kind: str, n: int, cycle_s: float, tally: Tally) -> None:
    target = pair.direct if kind in ("paced", "unpaced") else pair.gateway
    headers = worker_only(target.headers) if kind == "worker" else target.headers
    expected = 401 if kind == "worker" else 200
    body = chat_body(CHAT_MODEL, f"bench-{kind}")
    litellm0, runtime0 = _read(pair.litellm_cpu), _read(pair.runtime_cpu)
    for _ in range(n):
        start = time.perf_counter()
        status, payload = conn.request("POST", PATH, headers, body)
        tally.latencies.append(time.perf_counter() - start)
        if status != expected:
            raise RuntimeError(f"paced {kind}: got {status}, expected {expected}: {payload[:300]!r}")
        if kind == "paced":
            time.sleep(max(0.0, start + cycle_s - time.perf_counter()))
    tally.litellm_s += _read(pair.litellm_cpu) - litellm0
    tally.runtime_s += _read(pair.runtime_cpu) - runtime0


def paced_rounds(pair: Pair, rounds: int, per_round: int, warmup: int) -> dict[str, Any]:
    """`rounds` rounds of `per_round` requests of each kind; returns per-kind figures and the ratios."""
    conns = {kind: (pair.direct if kind in ("paced", "unpaced") else pair.gateway).connect() for kind in KINDS}
    tallies = {kind: Tally([]) for kind in KINDS}
    per_round_ratio: list[float] = []
    try:
        for kind in KINDS:  # warm each connection (and LiteLLM's code paths) outside the measurement
            _segment(pair, conns[kind], kind, warmup, 0.0, Tally([]))
        for r in range(rounds):
            gw = tallies["gateway"]
            before = (len(gw.latencies), gw.litellm_s, tallies["paced"].litellm_s)
            # Rotate so neither side always follows the other: (gateway, paced, unpaced, worker) in even
            # rounds, (unpaced, worker, gateway, paced) in odd ones; paced always right after the gateway.
            order = KINDS[r % 2 * 2:] + KINDS[: r % 2 * 2]
            for kind in order:
                cycle = statistics.median(gw.latencies[-per_round:]) if kind == "paced" else 0.0
                _segment(pair, conns[kind], kind, per_round, cycle, tallies[kind])
            if pair.litellm_cpu and tallies["paced"].litellm_s > before[2]:
                per_round_ratio.append((gw.litellm_s - before[1]) / (tallies["paced"].litellm_s - before[2]))
    finally:
        for conn in conns.values():
            conn.close()
    return summarise(tallies, rounds * per_round, per_round_ratio, pair)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def summarise(tallies: dict[str, Tally], n: int, per_round_ratio: list[float], pair: Pair) -> dict[str, Any]:
    out: dict[str, Any] = {"rounds_requests": n}
    for kind, t in tallies.items():
        out[kind] = {
            "p50_ms": _ms(percentile(t.latencies, 50)),
            "p99_ms": _ms(percentile(t.latencies, 99)),
            "litellm_cpu_ms": _ms(t.litellm_s / n) if pair.litellm_cpu and kind != "worker" else None,
            "runtime_cpu_ms": _ms(t.runtime_s / n) if pair.runtime_cpu and kind in ("gateway", "worker") else None,
        }
    gw, paced, unpaced = (out[kind]["litellm_cpu_ms"] for kind in ("gateway", "paced", "unpaced"))
    out["litellm_cpu_ratio_paced"] = round(gw / paced, 3) if gw and paced else None
    out["litellm_cpu_ratio_unpaced"] = round(gw / unpaced, 3) if gw and unpaced else None
    out["litellm_cpu_ratio_paced_rounds"] = [round(x, 3) for x in per_round_ratio]
    edge, worker = out["gateway"]["runtime_cpu_ms"], out["worker"]["runtime_cpu_ms"]
    out["edge_cpu_ms"] = edge
    out["edge_worker_cpu_ms"] = worker
    out["edge_do_cpu_ms"] = round(edge - worker, 3) if edge is not None and worker is not None else None
    return out
