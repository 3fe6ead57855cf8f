"""Turn the measurements into ratios, a Markdown table, and one verdict line per target."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from collections.abc import Callable
from typing import Any

from .burst import burst_table
from .floors import floor_table
from .hostile import forged_table, forged_verdict
from .memory import memory_table, memory_verdicts
from .ring import table as ring_table
from .stream_delay import render as stream_delay_table
from .virtual_keys import key_table

# The targets. Overheads compare the gateway with LiteLLM direct measured in the same run.
GOAL_EDGE_P50_MS = 1.0
GOAL_EDGE_P99_MS = 3.0
GOAL_THROUGHPUT_RATIO = 0.95
GOAL_CHUNK_DELAY_MS = 5.0
GOAL_BOOT_CPU_S = 2.5
GOAL_CPU_PER_REQUEST_MS = 5.0
GOAL_EDGE_CPU_MS = 3.0  # Worker + Durable Object, sequential (issue 13 §1)
GOAL_PACED_RATIO = 1.05  # LiteLLM CPU per request behind the gateway ÷ direct, paced alike (issue 13 §2)
GOAL_COLD_BURST_P99_RATIO = 2.0  # cold burst p99 ÷ the same burst fully warm, with no 503 (issue 13 §4)
GOAL_KEY_ADDED_P50_MS = 2.0  # a virtual key's p50 over the master key's, local runtime, sequential (issue 11)
# Issue 20, each against the floors of the same run (bench/floors.py, bench/stream_delay.py):
GOAL_CPU_OVER_RELAY_MS = 1.5  # edge CPU per sequential master-key request over the relay floor's
GOAL_KEY_OVER_FLOOR_MS = 0.5  # a virtual key's added p50 and CPU over its two RPC-with-one-write calls
GOAL_STREAM_OVER_RELAY_P99_MS = 1.0  # chunk delay p99 over the relay floor's, both in front of one LiteLLM

COLUMNS = ("provider", "litellm", "gateway")
HEADERS = ("provider direct", "LiteLLM direct", "gateway")


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), model)
    except OSError:
        pass
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "arch": platform.machine(),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "node": node,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _get(results: dict[str, Any], target: str, *path: str) -> float | None:
    node: Any = results["targets"].get(target)
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def ratios(results: dict[str, Any]) -> dict[str, float | None]:
    """Gateway against LiteLLM direct: what the edge (Worker + Durable Object + runtime) adds."""

    def diff(*path: str) -> float | None:
        gw, ll = _get(results, "gateway", *path), _get(results, "litellm", *path)
        return None if gw is None or ll is None else round(gw - ll, 3)

    def ratio(*path: str) -> float | None:
        gw, ll = _get(results, "gateway", *path), _get(results, "litellm", *path)
        return None if gw is None or not ll else round(gw / ll, 3)

    return {
        "edge_p50_ms": diff("sequential", "p50_ms"),
        "edge_p99_ms": diff("sequential", "p99_ms"),
        "latency_p50_ratio": ratio("sequential", "p50_ms"),
        "throughput_ratio": ratio("concurrent", "throughput_rps"),
        "c16_p99_ratio": ratio("concurrent", "p99_ms"),
        "chunk_delay_gain_mean_ms": diff("streaming", "delay_mean_ms"),
        "chunk_delay_gain_max_ms": diff("streaming", "delay_max_ms"),
    }


ROWS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("sequential p50 (ms)", ("sequential", "p50_ms"), 2),
    ("sequential p90 (ms)", ("sequential", "p90_ms"), 2),
    ("sequential p99 (ms)", ("sequential", "p99_ms"), 2),
    ("c16 throughput (req/s)", ("concurrent", "throughput_rps"), 1),
    ("c16 p50 (ms)", ("concurrent", "p50_ms"), 2),
    ("c16 p99 (ms)", ("concurrent", "p99_ms"), 2),
    ("stream: first chunk p50 (ms)", ("streaming", "ttfc_p50_ms"), 2),
    ("stream: chunk delay mean (ms)", ("streaming", "delay_mean_ms"), 2),
    ("stream: chunk delay p99 (ms)", ("streaming", "delay_p99_ms"), 2),
    ("stream: chunk delay max (ms)", ("streaming", "delay_max_ms"), 2),
    ("stream: coalesced reads", ("streaming", "coalesced_reads"), 0),
    ("LiteLLM CPU/req, sequential (ms)", ("sequential", "cpu_ms_per_request", "litellm"), 2),
    ("LiteLLM CPU/req, c16 (ms)", ("concurrent", "cpu_ms_per_request", "litellm"), 2),
    ("runtime (node) CPU/req, sequential (ms)", ("sequential", "cpu_ms_per_request", "runtime"), 2),
    ("runtime (node) CPU/req, c16 (ms)", ("concurrent", "cpu_ms_per_request", "runtime"), 2),
    ("fake provider CPU/req, c16 (ms)", ("concurrent", "cpu_ms_per_request", "provider"), 2),
    ("bench client CPU/req, c16 (ms)", ("concurrent", "cpu_ms_per_request", "client"), 2),
    # Not ours: CPU other processes on the machine used meanwhile. Above ~0.2 cores, distrust the run.
    ("other processes, sequential (cores)", ("sequential", "foreign_cpu_cores"), 2),
    ("other processes, c16 (cores)", ("concurrent", "foreign_cpu_cores"), 2),
)


def table(results: dict[str, Any]) -> str:
    out = ["| metric † | " + " | ".join(HEADERS) + " | gateway ÷ LiteLLM | edge = gateway - LiteLLM |"]
    out.append("|---" * (len(HEADERS) + 3) + "|")
    for label, path, digits in ROWS:
        cells = [_get(results, col, *path) for col in COLUMNS]
        gw, ll = cells[2], cells[1]
        comparable = gw is not None and ll is not None and not label.startswith("other")  # noise: no ratio
        ratio = _fmt(gw / ll, 3) if comparable and ll else "n/a"
        edge = _fmt(gw - ll, digits) if comparable else "n/a"
        out.append(f"| {label} | " + " | ".join(_fmt(c, digits) for c in cells) + f" | {ratio} | {edge} |")
    return "\n".join(out)


def cold_table(cold: dict[str, Any]) -> str:
    rows = [
        ("LiteLLM direct: start.sh → /health/liveliness 200", "litellm_boot_wall_s", "litellm_boot_cpu_s"),
        ("gateway: runtime start (node → `Ready on`)", "runtime_start_wall_s", "runtime_start_cpu_s"),
        ("gateway: first request, container stopped → 200", "gateway_first_request_s", "gateway_litellm_cpu_s"),
        ("gateway: container spawn → first 200", "gateway_container_to_first_200_s", None),
    ]
    other = {"litellm_boot_wall_s": "litellm_boot_other_cores",
             "gateway_first_request_s": "gateway_first_request_other_cores"}
    out = ["| cold start † | wall (s) | CPU (s) | other processes (cores) |", "|---|---|---|---|"]
    for label, wall, cpu in rows:
        cpu_cell = _fmt(cold.get(cpu)) if cpu else "n/a"
        out.append(f"| {label} | {_fmt(cold.get(wall))} | {cpu_cell} | {_fmt(cold.get(other.get(wall, '')))} |")
    return "\n".join(out)


def scale_table(results: dict[str, Any]) -> str:
    """c16 throughput with one container and with two behind one edge (CONTAINER_INSTANCES=2)."""
    rows = [("LiteLLM direct (1 process)", "litellm"), ("gateway, N=1", "gateway"), ("gateway, N=2", "gateway_n2")]
    one = _get(results, "gateway", "concurrent", "throughput_rps")
    out = ["| scale-out † (c16) | throughput (req/s) | p50 / p99 (ms) | vs gateway N=1 |", "|---|---|---|---|"]
    for label, key in rows:
        rps = _get(results, key, "concurrent", "throughput_rps")
        p50, p99 = _get(results, key, "concurrent", "p50_ms"), _get(results, key, "concurrent", "p99_ms")
        factor = _fmt(rps / one, 2) if rps is not None and one else "n/a"
        out.append(f"| {label} | {_fmt(rps, 1)} | {_fmt(p50)} / {_fmt(p99)} | {factor} |")
    return "\n".join(out)


def paced_table(paced: dict[str, Any]) -> str:
    """The like-for-like rounds (bench/paced.py): one LiteLLM, through the edge and direct."""
    rows = [("through the gateway", "gateway"), ("direct, paced to the gateway's latency", "paced"),
            ("direct, back to back", "unpaced"), ("Worker-only answer (401 at the edge)", "worker")]
    out = [f"| like for like † ({paced['rounds_requests']} requests each, interleaved) | p50 / p99 (ms) "
           "| LiteLLM CPU/req (ms) | runtime CPU/req (ms) |", "|---|---|---|---|"]
    for label, kind in rows:
        k = paced[kind]
        out.append(f"| {label} | {_fmt(k['p50_ms'])} / {_fmt(k['p99_ms'])} | {_fmt(k['litellm_cpu_ms'])} "
                   f"| {_fmt(k['runtime_cpu_ms'])} |")
    per_round = ", ".join(f"{x:.2f}" for x in paced["litellm_cpu_ratio_paced_rounds"]) or "n/a"
    out.append("")
    out.append(f"LiteLLM CPU/req gateway ÷ direct: paced {_fmt(paced['litellm_cpu_ratio_paced'], 3)} "
               f"(per round: {per_round}), unpaced {_fmt(paced['litellm_cpu_ratio_unpaced'], 3)}. "
               f"Edge CPU/req: {_fmt(paced['edge_cpu_ms'])} ms = Worker {_fmt(paced['edge_worker_cpu_ms'])} "
               f"+ Durable Object {_fmt(paced['edge_do_cpu_ms'])}.")
    return "\n".join(out)


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    r = results["ratios"]
    cold = results["cold_start"]
    out: list[dict[str, Any]] = []

    def add(name: str, met: bool | None, measured: str, goal: str) -> None:
        out.append({"name": name, "met": met, "measured": measured, "goal": goal})

    missing = "--smoke skips LiteLLM direct"
    p50, p99 = r["edge_p50_ms"], r["edge_p99_ms"]
    goal = f"≤ {GOAL_EDGE_P50_MS:g} ms p50, ≤ {GOAL_EDGE_P99_MS:g} ms p99"
    if p50 is None or p99 is None:
        add("edge-overhead", None, missing, goal)
    else:
        add("edge-overhead", p50 <= GOAL_EDGE_P50_MS and p99 <= GOAL_EDGE_P99_MS,
            f"+{p50:.2f} ms p50, +{p99:.2f} ms p99", goal)
    tr = r["throughput_ratio"]
    goal = f"≥ {GOAL_THROUGHPUT_RATIO:.0%} of LiteLLM direct at c16"
    if tr is None:
        add("throughput", None, missing, goal)
    else:
        add("throughput", tr >= GOAL_THROUGHPUT_RATIO, f"{tr:.1%}", goal)
    dmax = _get(results, "gateway", "streaming", "delay_max_ms")
    coal = _get(results, "gateway", "streaming", "coalesced_reads")
    assert dmax is not None and coal is not None
    add("streaming", dmax <= GOAL_CHUNK_DELAY_MS and coal == 0,
        f"max {dmax:.2f} ms after upstream send, {coal:.0f} coalesced", f"≤ {GOAL_CHUNK_DELAY_MS:g} ms, 0 coalesced")
    # LiteLLM's own cost: from the clean direct run when there is one, else from LiteLLM inside the gateway.
    source = "litellm" if "litellm" in results["targets"] else "gateway"
    boot = cold.get("litellm_boot_cpu_s") if source == "litellm" else cold.get("gateway_litellm_cpu_s")
    per_req = _get(results, source, "sequential", "cpu_ms_per_request", "litellm")
    goal = f"≤ {GOAL_BOOT_CPU_S:g} s, ≤ {GOAL_CPU_PER_REQUEST_MS:g} ms"
    if boot is None or per_req is None:
        add("litellm-cost", None, "a gateway the bench did not start", goal)
    else:
        add("litellm-cost", boot <= GOAL_BOOT_CPU_S and per_req <= GOAL_CPU_PER_REQUEST_MS,
            f"boot {boot:.2f} s CPU, {per_req:.2f} ms CPU/request", goal)
    paced = results.get("paced") or {}
    edge, worker, do = (paced.get(k) for k in ("edge_cpu_ms", "edge_worker_cpu_ms", "edge_do_cpu_ms"))
    goal = f"≤ {GOAL_EDGE_CPU_MS:g} ms CPU per sequential request, Worker + Durable Object"
    if edge is None or worker is None or do is None:
        add("edge-cpu", None, "the edge's CPU is not readable (set GATEWAY_PID)", goal)
    else:
        add("edge-cpu", edge <= GOAL_EDGE_CPU_MS, f"{edge:.2f} ms = Worker {worker:.2f} + Durable Object {do:.2f}",
            goal)
    ratio = paced.get("litellm_cpu_ratio_paced")
    goal = f"≤ {GOAL_PACED_RATIO:g}, same LiteLLM, interleaved, direct paced to the gateway's latency"
    if ratio is None:
        add("litellm-paced", None, "needs LiteLLM's CPU (a local run, or LITELLM_URL + LITELLM_PID)",
            goal)
    else:
        add("litellm-paced", ratio <= GOAL_PACED_RATIO,
            f"LiteLLM CPU/request gateway ÷ direct {ratio:.3f} (unpaced {paced['litellm_cpu_ratio_unpaced']:.3f})",
            goal)
    burst = results.get("cold_burst")
    goal = f"p99 ≤ {GOAL_COLD_BURST_P99_RATIO:g} times the warm burst's, no 503"
    if not burst:
        add("cold-burst", None, "needs a gateway the bench starts (instances, warm floor, idle stop)", goal)
    elif "crashed" in burst:
        add("cold-burst", False, f"the local runtime crashed under the burst ({burst['crashed']})", goal)
    else:
        cold, ratio = burst["cold"], burst["p99_ratio"]
        add("cold-burst", ratio is not None and ratio <= GOAL_COLD_BURST_P99_RATIO and cold["not_200"] == 0,
            f"p99 {cold['p99_ms']:.0f} ms = {_fmt(ratio)} times warm ({burst['warm']['p99_ms']:.0f} ms), "
            f"{cold['status_503']} answered 503, {cold['not_200']} not 200", goal)
    keys = results.get("virtual_keys")
    goal = f"≤ {GOAL_KEY_ADDED_P50_MS:g} ms p50 added over the master key, with and without rpm_limit"
    if not keys:
        add("virtual-key", None, "needs a gateway the bench starts (it creates keys)", goal)
    else:
        plain, rpm = keys["added"]["key"], keys["added"]["key_rpm"]
        add("virtual-key", max(plain["p50_ms"], rpm["p50_ms"]) <= GOAL_KEY_ADDED_P50_MS,
            f"+{plain['p50_ms']:.2f} ms p50 without limits, +{rpm['p50_ms']:.2f} ms with rpm_limit; runtime CPU "
            f"+{plain['runtime_cpu_ms']:.2f} / +{rpm['runtime_cpu_ms']:.2f} ms per request; key-object calls "
            f"{keys['kinds']['key']['key_object_calls']} vs {keys['kinds']['master']['key_object_calls']}", goal)
    _floor_verdicts(results.get("over_floor") or {}, add)
    return [*out, forged_verdict(results.get("forged_key")), *memory_verdicts(results.get("memory"))]


def _floor_verdicts(over: dict[str, Any], add: Callable[[str, bool | None, str, str], None]) -> None:
    """Issue 20's goals: the edge's cost over what the same runtime's floors cost in the same run."""
    cpu = over.get("cpu_over_floor_ms")
    goal = f"≤ {GOAL_CPU_OVER_RELAY_MS:g} ms edge CPU per master-key request over the relay floor's"
    add("cpu-over-floor", None if cpu is None else cpu <= GOAL_CPU_OVER_RELAY_MS,
        "needs the floors and the like-for-like rounds" if cpu is None
        else f"{over['edge_cpu_ms']:.2f} vs {over['relay_cpu_ms']:.2f} ms: {cpu:+.2f} ms", goal)
    p50, cpu = over.get("key_p50_over_floor_ms"), over.get("key_cpu_over_floor_ms")
    goal = f"≤ {GOAL_KEY_OVER_FLOOR_MS:g} ms p50 and CPU over two RPC-with-one-write calls"
    add("key-over-floor", None if p50 is None or cpu is None else max(p50, cpu) <= GOAL_KEY_OVER_FLOOR_MS,
        "needs the floors and the virtual-key rounds" if p50 is None or cpu is None
        else f"{p50:+.2f} ms p50, {cpu:+.2f} ms CPU", goal)
    p99, later = over.get("stream_like_p99_over_relay_ms"), over.get("stream_later_p99_over_relay_ms")
    goal = f"chunk delay p99 ≤ the relay floor's + {GOAL_STREAM_OVER_RELAY_P99_MS:g} ms, 0 coalesced"
    add("stream-over-floor", None if p99 is None else p99 <= GOAL_STREAM_OVER_RELAY_P99_MS
        and over["stream_like_coalesced"] == 0,
        "needs LiteLLM direct (--smoke skips it)" if p99 is None
        else f"{p99:+.2f} ms (later chunks {later:+.2f}), {over['stream_like_coalesced']} coalesced", goal)


NOISE_CORES = 0.25  # other processes' load above which a phase's absolute numbers are not worth much


def noise(results: dict[str, Any]) -> dict[str, float]:
    """Phases during which other processes on the machine used more than NOISE_CORES cores."""
    found = {}
    for target, phases in results["targets"].items():
        for phase in ("sequential", "concurrent"):
            cores = phases.get(phase, {}).get("foreign_cpu_cores", 0.0)  # N=2 runs only `concurrent`
            if cores > NOISE_CORES:
                found[f"{target} {phase}"] = cores
    for key, cores in results["cold_start"].items():
        if key.endswith("_other_cores") and cores > NOISE_CORES:
            found[key.removesuffix("_other_cores")] = cores
    forged = (results.get("forged_key") or {}).get("other_cores")
    if forged is not None and forged > NOISE_CORES:
        found["forged key"] = forged
    return found


def verdict_line(v: dict[str, Any]) -> str:
    met = {True: "met", False: "missed", None: "not measured"}[v["met"]]
    return f"target {v['name']}: {met} ({v['measured']} vs {v['goal']})"


def render(results: dict[str, Any], say: Callable[[str], None] = print) -> None:
    m = results["machine"]
    say("## litellm-router bench" + (" (smoke: tiny counts, numbers meaningless)" if results["smoke"] else ""))
    say("")
    say(f"† machine-specific absolute figures: `uname -m` {m['arch']}, nproc {m['nproc']}, {m['cpu_model']}, "
        f"{m['date']}, Python {m['python']}, node {m['node']}, load average at start {m['loadavg_at_start']}, "
        f"bytecode: {results['config']['pycache']}. Trust the ratios more than the absolute numbers.")
    say("")
    say(table(results))
    say("")
    if not results.get("remote"):  # a gateway the bench did not start has no cold start it saw
        say(cold_table(results["cold_start"]))
        say("")
    for key, section in (("paced", paced_table), ("virtual_keys", key_table)):
        if results.get(key):
            say(section(results[key]))
            say("")
    if results.get("floors"):
        say(floor_table(results["floors"], results["over_floor"]))
        say("")
    if results.get("stream_delay"):
        say(stream_delay_table(results["stream_delay"]))
        say("")
    if not results.get("remote"):
        say(scale_table(results))
        say("")
    for key, section in (("cold_burst", burst_table), ("forged_key", forged_table), ("memory", memory_table),
                         ("ring", ring_table)):
        if results.get(key):
            say(section(results[key]))
            say("")
    for v in results["verdicts"]:
        say(verdict_line(v))
    if results["noise"]:
        phases = ", ".join(f"{k} ({v:.2f} cores)" for k, v in results["noise"].items())
        say("")
        say(f"NOTE: other processes were busy during {phases}: those figures are inflated; rerun on a quiet machine.")
