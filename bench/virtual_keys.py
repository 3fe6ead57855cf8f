"""What a virtual key costs the edge (issue 11): sequential chat with the master key and with virtual keys,
interleaved in rounds against one gateway.

Kinds, each on its own keep-alive connection, in a rotating order every round:
  master  - the master key: no admission; booked by the container's object in its own SQLite, no call;
  key     - a virtual key without limits: its object admits it before forwarding (edge) and books it after
            (the container's object);
  key_rpm - a virtual key with `rpm_limit` (far above what the bench sends, so nothing is refused): admission
            also prunes, reads and appends the key's trailing-60 s window, one row per request in it.
Added p50 and runtime (node) CPU per request are kind - master, pooled over the rounds. Calls to the keys'
Durable Objects per request are read from the code (KEY_OBJECT_CALLS); the bench checks the booking side by
comparing what the ledger booked per key (`/spend/report`) with what it sent. `python -m bench.virtual_keys`
runs this row alone against a fresh local runtime (~2 min).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness import FakeProvider, Gateway, start_gateway, wait_for
from tests.harness.procs import group_cpu

from .config import (
    CHAT_MODEL,
    FIRST_REQUEST_TIMEOUT_S,
    FULL,
    SMOKE,
    Counts,
    pycache_prefix,
    render_bench_config,
    strong_key,
    worker_module,
)
from .http1 import BlockingConn
from .measure import PATH, Target, chat_body, foreign_since, mark, percentile

KINDS = ("master", "key", "key_rpm")
RPM_LIMIT = 1_000_000  # never reached: every request is admitted, and the window keeps every one of them
# Calls to the keys' objects per /v1/* request (worker/keys/gate.py): none for the master key (the container's
# object books it in its own ledger); a virtual key `admit` before forwarding and `finish` after the last byte.
# Every kind also makes the one call to the container's Durable Object that forwards the request.
KEY_OBJECT_CALLS = {"master": 0, "key": 2, "key_rpm": 2}
SETTLE_S = 0.05  # bookings run after the last byte: let a segment's last one land in its own CPU
BOOKED_TIMEOUT_S = 10.0
Say = Callable[[str], None]


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    runtime_s: float = 0.0
    litellm_s: float = 0.0
    sent: int = 0  # warm-up included: what the ledger should have booked


def generate(gateway: Gateway, alias: str, **settings: Any) -> tuple[str, str]:
    """A new virtual key through the edge's key API: (key, token)."""
    answer = gateway.client.post("/key/generate", headers=gateway.auth(), json={"key_alias": alias, **settings})
    if answer.status_code != 200:
        raise RuntimeError(f"virtual keys: /key/generate answered {answer.status_code}: {answer.text[:300]}")
    created = answer.json()
    return created["key"], created["token"]


def booked(gateway: Gateway) -> dict[str, int]:
    """Requests in the ledger per key token (master-key traffic under the token `master`), today."""
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    answer = gateway.client.get("/spend/report", headers=gateway.auth(),
                                params={"start_date": today, "end_date": today, "group_by": "key"})
    answer.raise_for_status()
    return {row["token"]: row["requests"] for row in answer.json()["data"]}


def _segment(conn: BlockingConn, headers: dict[str, str], body: bytes, n: int, tally: Tally,
             runtime_cpu: Callable[[], float], litellm_cpu: Callable[[], float] | None) -> None:
    runtime0, litellm0 = runtime_cpu(), litellm_cpu() if litellm_cpu else 0.0
    for _ in range(n):
        start = time.perf_counter()
        status, payload = conn.request("POST", PATH, headers, body)
        tally.latencies.append(time.perf_counter() - start)
        if status != 200:
            raise RuntimeError(f"virtual keys: got {status}: {payload[:300]!r}")
    time.sleep(SETTLE_S)
    tally.runtime_s += runtime_cpu() - runtime0
    tally.litellm_s += (litellm_cpu() - litellm0) if litellm_cpu else 0.0
    tally.sent += n


def key_rounds(gateway: Gateway, litellm_cpu: Callable[[], float] | None, counts: Counts, say: Say) -> dict[str, Any]:
    """`counts.rounds` rounds of `counts.per_round` sequential requests per kind; see the module's docstring."""
    stamp = int(time.time())
    keys = {"master": (gateway.key, None),
            "key": generate(gateway, f"bench-key-{stamp}"),
            "key_rpm": generate(gateway, f"bench-key-rpm-{stamp}", rpm_limit=RPM_LIMIT)}
    before = booked(gateway)
    target = Target("gateway", gateway.url, gateway.key, CHAT_MODEL)
    headers = {kind: {**target.headers, "Authorization": f"Bearer {key}"} for kind, (key, _) in keys.items()}
    conns = {kind: target.connect() for kind in KINDS}
    tallies = {kind: Tally() for kind in KINDS}
    added_rounds: dict[str, list[float]] = {"key": [], "key_rpm": []}
    body = chat_body(CHAT_MODEL, "bench-virtual-keys")

    def ours() -> float:  # CPU seconds of the processes this phase runs (the fake provider's counts as other)
        return gateway.runtime_cpu() + time.process_time() + (litellm_cpu() if litellm_cpu else 0.0)

    phase, ours0 = mark(), ours()
    say(f"virtual keys: {counts.rounds} rounds of {counts.per_round} requests per kind ({', '.join(KINDS)})")
    try:
        for kind in KINDS:  # warm each connection and each object outside the measurement
            warm = Tally()
            _segment(conns[kind], headers[kind], body, counts.warmup, warm, gateway.runtime_cpu, None)
            tallies[kind].sent += warm.sent
        for r in range(counts.rounds):
            for kind in KINDS[r % 3:] + KINDS[: r % 3]:  # each kind leads a round in turn
                _segment(conns[kind], headers[kind], body, counts.per_round, tallies[kind], gateway.runtime_cpu,
                         litellm_cpu)
            base = percentile(tallies["master"].latencies[-counts.per_round:], 50)
            for kind in added_rounds:
                added_rounds[kind].append(percentile(tallies[kind].latencies[-counts.per_round:], 50) - base)
        remaining = conns["key_rpm"].last_headers.get("x-ratelimit-remaining-requests")
        other_cores = foreign_since(phase, ours() - ours0)
    finally:
        for conn in conns.values():
            conn.close()
    tokens = {kind: token or worker_module("keys.ops").MASTER for kind, (_, token) in keys.items()}
    return summarise(tallies, counts.rounds * counts.per_round, added_rounds, litellm_cpu is not None,
                     in_window=None if remaining is None else RPM_LIMIT - int(remaining),
                     booked_vs_sent=_bookings(gateway, before, tokens, tallies), other_cores=other_cores)


def _bookings(gateway: Gateway, before: dict[str, int], tokens: dict[str, str],
              tallies: dict[str, Tally]) -> dict[str, list[int | None]]:
    """[booked, sent] per kind once the ledger has caught up (bookings land after the last byte)."""
    def counted() -> dict[str, list[int | None]]:
        now = booked(gateway)
        return {kind: [now[t] - before.get(t, 0) if t in now else None, tallies[kind].sent]
                for kind, t in tokens.items()}
    with contextlib.suppress(TimeoutError):  # reported as they are: a mismatch is the finding
        wait_for(lambda: all(b == s for b, s in counted().values()), BOOKED_TIMEOUT_S, interval=0.2)
    return counted()


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def summarise(tallies: dict[str, Tally], n: int, added_rounds: dict[str, list[float]], with_litellm: bool,
              in_window: int | None, booked_vs_sent: dict[str, list[int | None]],
              other_cores: float) -> dict[str, Any]:
    out: dict[str, Any] = {"rounds_requests": n, "rpm_limit": RPM_LIMIT, "window_requests_at_end": in_window,
                           "booked_vs_sent": booked_vs_sent, "other_cores": other_cores, "kinds": {}, "added": {}}
    for kind, t in tallies.items():
        out["kinds"][kind] = {"p50_ms": _ms(percentile(t.latencies, 50)), "p99_ms": _ms(percentile(t.latencies, 99)),
                              "runtime_cpu_ms": _ms(t.runtime_s / n),
                              "litellm_cpu_ms": _ms(t.litellm_s / n) if with_litellm else None,
                              "key_object_calls": KEY_OBJECT_CALLS[kind]}
    master = out["kinds"]["master"]
    for kind, rounds in added_rounds.items():
        k = out["kinds"][kind]
        out["added"][kind] = {"p50_ms": round(k["p50_ms"] - master["p50_ms"], 3),
                              "runtime_cpu_ms": round(k["runtime_cpu_ms"] - master["runtime_cpu_ms"], 3),
                              "p50_ms_rounds": [_ms(x) for x in rounds]}
    return out


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def key_table(out: dict[str, Any]) -> str:
    window = out["window_requests_at_end"]
    labels = {"master": "master key", "key": "virtual key, no limits",
              "key_rpm": f"virtual key, `rpm_limit` ({window} requests in its window at the end)"}
    lines = [f"| virtual keys † ({out['rounds_requests']} sequential requests each, interleaved) | p50 / p99 (ms) "
             "| added p50 (ms) | runtime CPU/req (ms) | added CPU (ms) | LiteLLM CPU/req (ms) "
             "| key-object calls/req | booked / sent |", "|---|---|---|---|---|---|---|---|"]
    for kind, label in labels.items():
        k, added = out["kinds"][kind], out["added"].get(kind, {})
        b, s = out["booked_vs_sent"][kind]
        lines.append(f"| {label} | {_fmt(k['p50_ms'])} / {_fmt(k['p99_ms'])} | {_fmt(added.get('p50_ms'))} "
                     f"| {_fmt(k['runtime_cpu_ms'])} | {_fmt(added.get('runtime_cpu_ms'))} "
                     f"| {_fmt(k['litellm_cpu_ms'])} | {k['key_object_calls']} | {'n/a' if b is None else b} / {s} |")
    per_round = "; ".join(f"{kind} " + ", ".join(f"{x:+.2f}" for x in out["added"][kind]["p50_ms_rounds"])
                          for kind in out["added"])
    lines += ["", f"Added p50 per round (ms): {per_round}. Key-object calls: master 0 (booked by the container's "
              "object), virtual key 2 (`admit` before forwarding, `finish` after the last byte); each kind also "
              f"makes the one call to the container's Durable Object. Other processes meanwhile: "
              f"{out['other_cores']:.2f} cores."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """This row alone, against a fresh local runtime: for A/B-testing a change to the key path."""
    p = argparse.ArgumentParser(prog="python -m bench.virtual_keys", description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny counts (checks the harness)")
    p.add_argument("--out", type=Path, help="also write the figures as JSON there")
    args = p.parse_args(argv)
    counts = SMOKE if args.smoke else FULL

    def say(line: str) -> None:
        print(f"[bench] {line}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-keys-") as tmp, FakeProvider.start() as fake:
        config = Path(tmp) / "litellm_config.yaml"
        config.write_text(render_bench_config(fake.url))
        env = {"PYTHONPYCACHEPREFIX": str(pycache_prefix("all"))}
        gateway = start_gateway(key=strong_key(), litellm_config=config, container_env=env,
                                log_file=Path(tmp) / "gateway.log")
        try:
            first = gateway.client.post(PATH, headers=gateway.auth(**{"content-type": "application/json"}),
                                        content=chat_body(CHAT_MODEL, "bench-keys-cold"),
                                        timeout=FIRST_REQUEST_TIMEOUT_S)  # boots LiteLLM
            if first.status_code != 200:
                raise RuntimeError(f"first request got {first.status_code}: {first.text[:300]}")
            pgid = int(gateway.running()[0]["pid"])
            out = key_rounds(gateway, lambda: group_cpu(pgid), counts, say)
        finally:
            gateway.stop()
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(key_table(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
