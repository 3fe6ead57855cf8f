"""Stream chunk delay like for like: the gateway and the relay floor in front of one LiteLLM, and LiteLLM direct.

`make bench` runs it while LiteLLM direct is up (bench/local.py); `python -m bench.stream_delay` runs it alone.
Both runtimes front the same LiteLLM (the gateway in upstream mode, `LITELLM_UPSTREAM_URL`; the relay floor of
bench/floors/relay with `UPSTREAM_URL`), and the three are asked in interleaved rounds, so what each adds per chunk
is measured against the same LiteLLM at the same moments. Each chunk's delay runs from the fake provider's send time
to its arrival here; a stream's first chunk rides with the answer's head (the request's own path through the edge),
so the later chunks are reported apart: they are what the relay adds per chunk. With `chats`, each round also sends
that many sequential chats through the gateway and through the relay floor, and the runtimes' CPU per request and
p50 are compared in the same rounds: issue 20's CPU goal like for like (upstream mode, so each runtime's CPU is its
edge alone), instead of against floors measured minutes apart, which drift by a third between runs.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.harness import FakeProvider, LiteLLMDirect, start_gateway

from .config import FLOORS, FULL, STREAM_MODEL, pycache_prefix, render_bench_config, strong_key
from .edge_profile import run
from .measure import Delays, Target, stream_delays

Say = Callable[[str], None]
KINDS = ("gateway", "relay", "litellm")
RUNTIMES = ("gateway", "relay")  # the two whose CPU per chat is compared (LiteLLM direct has no edge)


def stream_delay_rounds(litellm_url: str, litellm_key: str, rounds: int, streams: int, runtime_env: dict[str, str],
                        workdir: Path, say: Say, chats: int = 0) -> dict[str, Any]:
    """`rounds` rounds of `streams` streams per kind (and `chats` sequential chats through each runtime), the order
    rotating; the runtimes stop on every path."""
    say(f"stream delay: the gateway and the relay floor in front of one LiteLLM, {rounds} rounds of {streams} streams")
    with contextlib.ExitStack() as stack:
        gateway = start_gateway(key=strong_key(), litellm_config=None, containers=False, log_file=workdir / "sd-gw.log",
                                env={**runtime_env, "LITELLM_UPSTREAM_URL": litellm_url,
                                     "LITELLM_UPSTREAM_KEY": litellm_key})
        stack.callback(gateway.stop)
        relay = start_gateway(key=strong_key(), litellm_config=None, containers=False, project=FLOORS / "relay",
                              env={**runtime_env, "UPSTREAM_URL": litellm_url}, log_file=workdir / "sd-relay.log")
        stack.callback(relay.stop)
        targets = {"gateway": Target("gateway", gateway.url, gateway.key, STREAM_MODEL,
                                     cpu={"runtime": gateway.runtime_cpu}),
                   "relay": Target("relay floor", relay.url, litellm_key, STREAM_MODEL,
                                   cpu={"runtime": relay.runtime_cpu}),
                   "litellm": Target("LiteLLM direct", litellm_url, litellm_key, STREAM_MODEL)}
        # Warm each path, then let the gateway's first booking fetch LiteLLM's prices (/v1/model/info: ~50 ms of
        # LiteLLM's event loop the first time, ~10 ms after) before anything counts: that stall is LiteLLM's, and a
        # container's boot takes it before its first request (container.durable_object).
        for name, target in targets.items():
            stream_delays(target, 1)
            if chats and name in RUNTIMES:
                run(target, chats)
        time.sleep(1.0)
        delays = {name: Delays() for name in KINDS}
        chat_rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in RUNTIMES}
        for r in range(rounds):
            at = r % len(KINDS)
            for name in KINDS[at:] + KINDS[:at]:
                stream_delays(targets[name], streams, delays[name])
                if chats and name in RUNTIMES:
                    chat_rounds[name].append(run(targets[name], chats))
    out: dict[str, Any] = {"rounds": rounds, "streams_per_round": streams}
    out.update({name: delays[name].summary() for name in KINDS})
    if chats:
        out["chats_per_round"] = chats
        out["chat"] = {name: {field: round(statistics.median(one[field] for one in chat_rounds[name]), 3)
                              for field in ("runtime_cpu_ms", "p50_ms")} for name in RUNTIMES}
        for field in ("runtime_cpu_ms", "p50_ms"):
            out[f"gateway_over_relay_chat_{field}"] = round(out["chat"]["gateway"][field] - out["chat"]["relay"][field],
                                                            3)
    for over, base in (("gateway", "litellm"), ("relay", "litellm"), ("gateway", "relay")):
        for field in ("delay_p50_ms", "delay_p99_ms", "later_delay_p50_ms", "later_delay_p99_ms", "first_delay_p50_ms"):
            out[f"{over}_over_{base}_{field}"] = round(out[over][field] - out[base][field], 3)
    return out


def render(out: dict[str, Any]) -> str:
    lines = [f"| stream chunk delay ({out['rounds']} rounds x {out['streams_per_round']} streams each, interleaved, "
             "one LiteLLM) | all chunks p50 / p99 (ms) | later chunks p50 / p99 | first chunk p50 | coalesced |",
             "|---|---|---|---|---|"]
    labels = {"gateway": "gateway (upstream mode)", "relay": "relay floor", "litellm": "LiteLLM direct"}
    for name, label in labels.items():
        k = out[name]
        lines.append(f"| {label} | {k['delay_p50_ms']:.2f} / {k['delay_p99_ms']:.2f} | "
                     f"{k['later_delay_p50_ms']:.2f} / {k['later_delay_p99_ms']:.2f} | {k['first_delay_p50_ms']:.2f} "
                     f"| {k['coalesced_reads']} |")
    lines += ["", f"Gateway over the relay floor, p99: all chunks {out['gateway_over_relay_delay_p99_ms']:+.2f} ms, "
              f"later chunks {out['gateway_over_relay_later_delay_p99_ms']:+.2f} ms (p50 "
              f"{out['gateway_over_relay_later_delay_p50_ms']:+.2f}); first chunk p50 "
              f"{out['gateway_over_relay_first_delay_p50_ms']:+.2f} ms."]
    if "chat" in out:
        chat = out["chat"]
        lines.append(f"Sequential chats in the same rounds ({out['chats_per_round']} per runtime and round, medians "
                     f"of the rounds): runtime CPU per request gateway {chat['gateway']['runtime_cpu_ms']:.2f} ms vs "
                     f"relay floor {chat['relay']['runtime_cpu_ms']:.2f} ms "
                     f"({out['gateway_over_relay_chat_runtime_cpu_ms']:+.2f}), "
                     f"p50 {chat['gateway']['p50_ms']:.2f} vs {chat['relay']['p50_ms']:.2f} ms "
                     f"({out['gateway_over_relay_chat_p50_ms']:+.2f}).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.stream_delay", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=FULL.rounds)
    p.add_argument("--streams", type=int, default=FULL.streams, help="streams per kind and round")
    p.add_argument("--chats", type=int, default=FULL.per_round, help="sequential chats per runtime and round (0: none)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stream-delay-") as tmp, FakeProvider.start() as fake:
        workdir = Path(tmp)
        config = workdir / "litellm_config.yaml"
        config.write_text(render_bench_config(fake.url))
        litellm = LiteLLMDirect(config, strong_key(), {"PYTHONPYCACHEPREFIX": str(pycache_prefix("all"))},
                                workdir / "litellm.log")
        try:
            litellm.wait_ready()
            out = stream_delay_rounds(litellm.url, litellm.master_key, args.rounds, args.streams, {}, workdir,
                                      lambda line: print(f"[stream-delay] {line}", file=sys.stderr, flush=True),
                                      args.chats)
        finally:
            litellm.stop()
    print(render(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
