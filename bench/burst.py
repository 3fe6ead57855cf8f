"""Cold burst (issue 13 §4): do clients wait for boots when idle instances have stopped?

The gateway runs `CONTAINER_INSTANCES` instances with `MIN_WARM_INSTANCES=1` and a short `SLEEP_AFTER`.
The scheduled warm-up (the Cron Trigger, fired through the local runtime's `/cdn-cgi/handler/scheduled`)
boots every instance; a burst of concurrent requests without `x-session-affinity` measures the fully warm
case; then, once every instance but the warm floor has idle-stopped (seen in `/health`), the same burst
again. Without affinity requests take turns, so most of the second burst lands on stopped instances:
its p99 and its 503s say whether those clients waited for a boot.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import httpx

from tests.harness import Gateway, start_gateway, wait_for

from .config import CHAT_MODEL, Counts, strong_key
from .http1 import burst
from .local import Say, stop
from .measure import PATH, Target, chat_body, percentile

MIN_WARM = 1  # the warm floor under test: litellm-0 stays up, the others idle-stop
SLEEP_AFTER = "5s"  # short, so the idle stop comes within seconds of the warm burst
SCHEDULED_PATH = "/cdn-cgi/handler/scheduled"  # the local runtime's Cron Trigger (local/scheduled.mjs)
BOOT_TIMEOUT_S = 240.0  # every instance booting at once on 2 shared cores
IDLE_TIMEOUT_S = 90.0  # SLEEP_AFTER plus the idle alarm's next check, with room for a busy machine
REQUEST_TIMEOUT_S = 180.0  # a cold request may wait READY_TIMEOUT (60 s by default) and more


def states(gateway: Gateway) -> list[str]:
    """Each instance's lifecycle state from /health (which never wakes an instance)."""
    return [str(item.get("state")) for item in gateway.health()["instances"]]


def boots_s(gateway: Gateway) -> list[float | None]:
    """Each instance's last boot (start to ready) in seconds, from /health."""
    return [round(ms / 1000, 1) if isinstance(ms := item.get("last_boot_ms"), int) else None
            for item in gateway.health()["instances"]]


def measure(gateway: Gateway, n: int, marker: str) -> dict[str, Any]:
    target = Target("gateway", gateway.url, gateway.key, CHAT_MODEL)
    answers = asyncio.run(burst(target.host, target.port, target.tls, PATH, target.headers,
                                chat_body(CHAT_MODEL, marker), n, REQUEST_TIMEOUT_S))
    latencies = [seconds for seconds, _ in answers]
    statuses = [status for _, status in answers]
    return {
        "requests": n,
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
        "status_503": statuses.count(503),
        "not_200": sum(1 for status in statuses if status != 200),  # 503s included; 0 = no answer at all
        "states_after": states(gateway),
        "last_boot_s": boots_s(gateway),
    }


def bench_cold_burst(config: Path, env: dict[str, str], runtime_env: dict[str, str], workdir: Path,
                     counts: Counts, results: dict[str, Any], say: Say) -> None:
    n, size = counts.burst_instances, counts.burst
    say(f"cold burst: CONTAINER_INSTANCES={n}, MIN_WARM_INSTANCES={MIN_WARM}, SLEEP_AFTER={SLEEP_AFTER}")
    gateway = start_gateway(key=strong_key(), litellm_config=config, container_env=env,
                            env={**runtime_env, "CONTAINER_INSTANCES": str(n), "MIN_WARM_INSTANCES": str(MIN_WARM),
                                 "SLEEP_AFTER": SLEEP_AFTER}, log_file=workdir / "gateway-burst.log")
    out: dict[str, Any] = {"instances": n, "min_warm_instances": MIN_WARM, "sleep_after": SLEEP_AFTER}
    try:
        started = time.perf_counter()
        fired = gateway.client.get(SCHEDULED_PATH, timeout=BOOT_TIMEOUT_S)
        if fired.status_code != 200:
            raise RuntimeError(f"cold burst: the scheduled warm-up answered {fired.status_code}")
        # The warm-up waits READY_TIMEOUT per instance at most; on a busy machine a boot may take longer.
        wait_for(lambda: all(s == "ready" for s in states(gateway)), BOOT_TIMEOUT_S, interval=0.5,
                 message=f"cold burst: instances not ready: {states(gateway)}")
        out["warm_up_s"] = round(time.perf_counter() - started, 2)
        say(f"cold burst: scheduled warm-up booted {n} instances in {out['warm_up_s']:.1f}s; warm burst of {size}")
        measure(gateway, 2 * n, "bench-burst-first")  # each LiteLLM's first requests compile its code paths
        out["warm"] = measure(gateway, size, "bench-burst-warm")
        started = time.perf_counter()
        idle = ["ready"] + ["stopped"] * (n - MIN_WARM)
        wait_for(lambda: states(gateway) == idle, IDLE_TIMEOUT_S, interval=0.25,
                 message=f"cold burst: instances did not idle-stop: {states(gateway)}")
        out["idle_stop_s"] = round(time.perf_counter() - started, 2)
        say(f"cold burst: instances 1..{n - 1} idle-stopped after {out['idle_stop_s']:.1f}s; cold burst of {size}")
        out["cold"] = measure(gateway, size, "bench-burst-cold")
    except httpx.TransportError:
        if gateway.process is None or gateway.process.poll() is None:
            raise
        out["crashed"] = crash_note(gateway)  # the runtime died under the burst: that is the finding
        say(f"cold burst: the local runtime crashed: {out['crashed']}")
    finally:
        stop(gateway, "gateway cold burst", results)
    if "crashed" in out:
        results["cold_burst"] = out
        return
    warm_p99, cold = out["warm"]["p99_ms"], out["cold"]
    out["p99_ratio"] = round(cold["p99_ms"] / warm_p99, 2) if warm_p99 else None
    results["cold_burst"] = out


def crash_note(gateway: Gateway) -> str:
    """Why the runtime died, from its output: V8's fatal-error banner and its first V8 frame, when there is one."""
    assert gateway.process is not None
    lines = gateway.log_lines()
    banner = [ln.strip("# ").strip() for ln in lines if ln.startswith("# ") and ln.strip("# ").strip()]
    frame = next((m.group(0) for ln in lines if (m := re.search(r"v8::internal::[\w:]+", ln))), "")
    return "; ".join([f"node exited {gateway.process.returncode}", *banner[:2], *([frame] if frame else [])])[:300]


def burst_table(out: dict[str, Any]) -> str:
    if "crashed" in out:
        return (f"Cold burst ({out['instances']} instances, MIN_WARM_INSTANCES={out['min_warm_instances']}): "
                f"not measured, the local runtime crashed: {out['crashed']}.")
    head = (f"| cold burst † ({out['instances']} instances, MIN_WARM_INSTANCES={out['min_warm_instances']}, "
            f"{out['warm']['requests']} concurrent, no affinity) | p50 / p99 / max (ms) | 503s | not 200 "
            "| states after |")
    lines = [head, "|---|---|---|---|---|"]
    for label, key in (("all instances warm", "warm"), ("after all but the warm floor idle-stopped", "cold")):
        k = out[key]
        lines.append(f"| {label} | {k['p50_ms']:.1f} / {k['p99_ms']:.1f} / {k['max_ms']:.1f} | {k['status_503']} "
                     f"| {k['not_200']} | {', '.join(k['states_after'])} |")
    rebooted = out["cold"]["last_boot_s"][out["min_warm_instances"]:]
    boots = ", ".join("n/a" if s is None else f"{s:.1f}" for s in rebooted)
    lines += ["", f"Cold ÷ warm p99: {out['p99_ratio']}; the stopped instances booted again in {boots} s. "
              f"Scheduled warm-up of every instance: "
              f"{out['warm_up_s']:.1f} s; idle stop (SLEEP_AFTER={out['sleep_after']}) seen after "
              f"{out['idle_stop_s']:.1f} s."]
    return "\n".join(lines)
