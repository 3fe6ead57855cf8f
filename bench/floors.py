"""Floors (issue 20 §3): the least a Python Worker and a Durable Object cost in the same local runtime, so the
gateway's edge is read against what this runtime can do at all rather than against zero.

Two minimal workers under bench/floors/, each served by `node local/cli.mjs --project DIR`:
  relay - Worker → Durable Object → the fake provider: the raw JS Request handed on, the upstream's JS
          Response returned as is; no policy, keys or metering;
  rpc   - Worker → one Durable Object RPC call that writes one SQLite row → a tiny answer; its `/bare` path is
          the same Worker answering alone, so the call's own cost is rpc - bare.
Measured with the provider direct in interleaved rounds (each kind on its own keep-alive connection, the order
rotating every round), sequential: p50 / p99 and the runtime's (node) CPU per request; then streams through the
relay and direct (bench/measure.py `streaming`: each chunk's delay from the fake's send time, coalesced reads).
The relay reaches the upstream with the runtime's `fetch` (Node's undici here) where the gateway's Durable Object
reaches its container by `getTcpPort().fetch` (local/container_fetch.mjs): locally the two hops' HTTP clients
differ, which the CPU over the floor includes (in workerd both are its own fetch).
The gateway's cost over the floor: its like-for-like edge latency (bench/paced.py: through the gateway minus
the same LiteLLM direct, paced) minus the relay's (relay minus provider direct), and its edge CPU per request
minus the relay's; a virtual key's added cost (bench/virtual_keys.py) is set against its key-object calls
priced at the RPC floor's call.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness import start_gateway

from .config import CHAT_MODEL, FAKE_OPENAI_KEY, FLOORS, STREAM_CHUNKS, STREAM_DELAY_MS, Counts, strong_key
from .http1 import BlockingConn
from .local import Say, stop
from .measure import PATH, Target, chat_body, foreign_since, mark, percentile, streaming
from .virtual_keys import KEY_OBJECT_CALLS

BARE_PATH = "/bare"  # bench/floors/rpc/entry.py: the Worker answers without calling its object
KINDS = ("provider", "relay", "bare", "rpc")
# The fake's own name for the bench's stream (bench.config: "bench-stream" is LiteLLM's name for it): the relay
# passes the body on untouched, so the fake reads the model from it.
UPSTREAM_STREAM_MODEL = f"gpt-delay{STREAM_DELAY_MS}-chunks{STREAM_CHUNKS}"
STREAMED = ("provider", "relay")  # streams through the relay, against the same streams direct
LABELS = {"provider": "provider direct", "relay": "relay: Worker → Durable Object → provider",
          "bare": "Worker alone, tiny answer", "rpc": "Worker → Durable Object RPC, one SQLite INSERT"}


@dataclass
class Kind:
    target: Target
    path: str
    cpu: Callable[[], float] | None  # the runtime's CPU seconds; None for the provider direct
    latencies: list[float] = field(default_factory=list)
    cpu_s: float = 0.0


def _segment(kind: Kind, conn: BlockingConn, n: int, body: bytes) -> None:
    cpu0 = kind.cpu() if kind.cpu else 0.0
    for _ in range(n):
        start = time.perf_counter()
        status, payload = conn.request("POST", kind.path, kind.target.headers, body)
        kind.latencies.append(time.perf_counter() - start)
        if status != 200:
            raise RuntimeError(f"floor {kind.target.name}: got {status}: {payload[:300]!r}")
    if kind.cpu:
        kind.cpu_s += kind.cpu() - cpu0


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def floor_rounds(fake_url: str, counts: Counts, runtime_env: dict[str, str], workdir: Path, results: dict[str, Any],
                 say: Say) -> dict[str, Any]:
    """Starts both floor runtimes, measures them with the provider direct; stops them on every path."""
    say("floors: starting the relay and RPC floor runtimes")
    with contextlib.ExitStack() as stack:
        runtimes = {}
        for name, env in (("relay", {**runtime_env, "UPSTREAM_URL": fake_url}), ("rpc", runtime_env)):
            runtime = start_gateway(key=strong_key(), litellm_config=None, containers=False, env=env,
                                    project=FLOORS / name, log_file=workdir / f"floor-{name}.log")
            stack.callback(stop, runtime, f"{name} floor", results)
            runtimes[name] = runtime

        def kind(name: str, url: str, path: str, cpu: Callable[[], float] | None) -> Kind:
            return Kind(Target(LABELS[name], url, FAKE_OPENAI_KEY, UPSTREAM_STREAM_MODEL), path, cpu)

        relay, rpc = runtimes["relay"], runtimes["rpc"]
        kinds = {"provider": kind("provider", fake_url, PATH, None),
                 "relay": kind("relay", relay.url, PATH, relay.runtime_cpu),
                 "bare": kind("bare", rpc.url, BARE_PATH, rpc.runtime_cpu),
                 "rpc": kind("rpc", rpc.url, PATH, rpc.runtime_cpu)}
        say(f"floors: {counts.rounds} rounds of {counts.per_round} requests per kind")
        return _rounds(kinds, counts)


def _rounds(kinds: dict[str, Kind], counts: Counts) -> dict[str, Any]:
    body = chat_body(CHAT_MODEL, "bench-floor")
    conns = {name: k.target.connect() for name, k in kinds.items()}
    readers = {k.cpu for k in kinds.values() if k.cpu} | {time.process_time}

    def ours() -> float:  # CPU seconds of both runtimes and this client (the fake provider's counts as other)
        return sum(read() for read in readers)

    try:
        for name, k in kinds.items():  # warm each connection and code path outside the measurement
            _segment(Kind(k.target, k.path, None), conns[name], counts.warmup, body)
        phase, ours0 = mark(), ours()
        for r in range(counts.rounds):
            at = r % len(KINDS)
            for name in KINDS[at:] + KINDS[:at]:
                _segment(kinds[name], conns[name], counts.per_round, body)
        other_cores = foreign_since(phase, ours() - ours0)
    finally:
        for conn in conns.values():
            conn.close()
    n = counts.rounds * counts.per_round
    out: dict[str, Any] = {"rounds_requests": n, "other_cores": other_cores}
    for name, k in kinds.items():
        out[name] = {"p50_ms": _ms(percentile(k.latencies, 50)), "p99_ms": _ms(percentile(k.latencies, 99)),
                     "runtime_cpu_ms": _ms(k.cpu_s / n) if k.cpu else None}
    for name in STREAMED:  # after the rounds: a stream's 20 ms pauses would leave the rounds' CPU figures idle
        out[name]["stream"] = streaming(kinds[name].target, counts)
    out["relay_over_provider_p50_ms"] = round(out["relay"]["p50_ms"] - out["provider"]["p50_ms"], 3)
    out["rpc_call_p50_ms"] = round(out["rpc"]["p50_ms"] - out["bare"]["p50_ms"], 3)
    out["rpc_call_cpu_ms"] = round(out["rpc"]["runtime_cpu_ms"] - out["bare"]["runtime_cpu_ms"], 3)
    return out


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


def over_floor(results: dict[str, Any]) -> dict[str, float | None]:
    """The gateway's cost over the floors, from rows measured in the same run ({} without floors or rounds)."""
    floors, paced = results.get("floors"), results.get("paced")
    if not floors or not paced:
        return {}
    edge_p50 = _minus(paced["gateway"]["p50_ms"], paced["paced"]["p50_ms"])
    out = {"gateway_edge_p50_ms": edge_p50, "relay_edge_p50_ms": floors["relay_over_provider_p50_ms"],
           "edge_cpu_ms": paced["edge_cpu_ms"], "relay_cpu_ms": floors["relay"]["runtime_cpu_ms"]}
    out["p50_over_floor_ms"] = _minus(edge_p50, out["relay_edge_p50_ms"])
    # A stream's chunk delay added by the edge: through the gateway minus LiteLLM direct (run_target's streams,
    # bench/measure.py; not measured by --smoke), against the relay's minus the provider's.
    targets = results.get("targets", {})
    if "gateway" in targets and "litellm" in targets and "stream" in floors["relay"]:
        p99 = {name: targets[name]["streaming"]["delay_p99_ms"] for name in ("gateway", "litellm")}
        out["stream_edge_p99_ms"] = _minus(p99["gateway"], p99["litellm"])
        out["relay_stream_edge_p99_ms"] = _minus(floors["relay"]["stream"]["delay_p99_ms"],
                                                 floors["provider"]["stream"]["delay_p99_ms"])
        out["stream_p99_over_floor_ms"] = _minus(out["stream_edge_p99_ms"], out["relay_stream_edge_p99_ms"])
        out["stream_coalesced"] = targets["gateway"]["streaming"]["coalesced_reads"]
    like = results.get("stream_delay")  # bench/stream_delay.py: both in front of one LiteLLM, interleaved
    if like:
        out["stream_like_p99_over_relay_ms"] = like["gateway_over_relay_delay_p99_ms"]
        out["stream_later_p99_over_relay_ms"] = like["gateway_over_relay_later_delay_p99_ms"]
        out["stream_like_coalesced"] = like["gateway"]["coalesced_reads"]
    if like and "chat" in like:  # the same rounds, the same LiteLLM: the CPU goal like for like (bench/stream_delay.py)
        out["edge_cpu_ms"] = like["chat"]["gateway"]["runtime_cpu_ms"]
        out["relay_cpu_ms"] = like["chat"]["relay"]["runtime_cpu_ms"]
        out["chat_p50_over_relay_ms"] = like["gateway_over_relay_chat_p50_ms"]
    out["cpu_over_floor_ms"] = _minus(out["edge_cpu_ms"], out["relay_cpu_ms"])
    keys = results.get("virtual_keys")
    if keys and "key" in keys["added"]:
        calls = KEY_OBJECT_CALLS["key"]
        out["key_calls_at_floor_p50_ms"] = round(calls * floors["rpc_call_p50_ms"], 3)
        out["key_calls_at_floor_cpu_ms"] = round(calls * floors["rpc_call_cpu_ms"], 3)
        out["key_p50_over_floor_ms"] = _minus(keys["added"]["key"]["p50_ms"], out["key_calls_at_floor_p50_ms"])
        out["key_cpu_over_floor_ms"] = _minus(keys["added"]["key"]["runtime_cpu_ms"], out["key_calls_at_floor_cpu_ms"])
    return out


def _f(value: float | None, sign: str = "") -> str:
    return "n/a" if value is None else f"{value:{sign}.2f}"


def floor_table(floors: dict[str, Any], over: dict[str, float | None]) -> str:
    lines = [f"| floor † ({floors['rounds_requests']} sequential requests each, interleaved) | p50 / p99 (ms) "
             "| runtime CPU/req (ms) |", "|---|---|---|"]
    for name in KINDS:
        k = floors[name]
        lines.append(f"| {LABELS[name]} | {_f(k['p50_ms'])} / {_f(k['p99_ms'])} | {_f(k['runtime_cpu_ms'])} |")
    lines += ["", f"Relay floor: {_f(floors['relay_over_provider_p50_ms'], '+')} ms p50 over the provider direct. "
              f"One RPC call with a SQLite write: {_f(floors['rpc_call_p50_ms'], '+')} ms p50, "
              f"{_f(floors['rpc_call_cpu_ms'], '+')} ms CPU over the Worker alone. Other processes meanwhile: "
              f"{floors['other_cores']:.2f} cores."]
    if over:
        lines.append(f"Gateway over the relay floor: {_f(over['p50_over_floor_ms'], '+')} ms p50 (its like-for-like "
                     f"edge {_f(over['gateway_edge_p50_ms'])} ms vs the floor's {_f(over['relay_edge_p50_ms'])}), "
                     f"{_f(over['cpu_over_floor_ms'], '+')} ms edge CPU per request ({_f(over['edge_cpu_ms'])} vs "
                     f"{_f(over['relay_cpu_ms'])}"
                     f"{', chats in the same rounds' if 'chat_p50_over_relay_ms' in over else ''}).")
    if "stream_p99_over_floor_ms" in over:
        lines.append(f"Stream chunk delay p99 added by the edge, over the relay floor's: "
                     f"{_f(over['stream_p99_over_floor_ms'], '+')} ms (gateway minus LiteLLM direct "
                     f"{_f(over['stream_edge_p99_ms'])} ms vs relay minus provider "
                     f"{_f(over['relay_stream_edge_p99_ms'])}); "
                     f"{over['stream_coalesced']} coalesced reads through the gateway, "
                     f"{floors['relay']['stream']['coalesced_reads']} through the relay.")
    if "key_p50_over_floor_ms" in over:
        lines.append(f"Virtual key over its floor ({KEY_OBJECT_CALLS['key']} key-object calls at the RPC floor's "
                     f"price: {_f(over['key_calls_at_floor_p50_ms'])} ms p50, {_f(over['key_calls_at_floor_cpu_ms'])} "
                     f"ms CPU): {_f(over['key_p50_over_floor_ms'], '+')} ms p50, "
                     f"{_f(over['key_cpu_over_floor_ms'], '+')} ms CPU.")
    return "\n".join(lines)
