"""`python -m bench --smoke` end to end: the report's shape, never its timings (they are machine noise).

Boots one LiteLLM per container (smoke mode skips LiteLLM direct; the cold burst boots three) and one more for the
memory rows, which start a fresh runtime per row: ~150 s on a quiet machine.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VERDICTS = ["edge-overhead", "throughput", "streaming", "litellm-cost", "edge-cpu", "litellm-paced", "cold-burst",
            "virtual-key", "cpu-over-floor", "key-over-floor", "stream-over-floor", "forged-key", "memory-request",
            "memory-burst"]
VERDICT = re.compile(rf"^target ({'|'.join(VERDICTS)}): (met|missed|not measured) \((.+) vs (.+)\)$")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    python = ROOT / ".venv" / "bin" / "python"
    proc = subprocess.run(
        [str(python if python.exists() else sys.executable), "-m", "bench", "--smoke", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=480, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc.stdout, json.loads(out.read_text())


def test_prints_the_tables(smoke: tuple[str, dict]) -> None:
    stdout, _ = smoke
    assert "| metric † | provider direct | LiteLLM direct | gateway | gateway ÷ LiteLLM |" in stdout
    assert "| cold start † | wall (s) | CPU (s) |" in stdout
    assert "machine-specific" in stdout and "nproc" in stdout
    assert "| scale-out † (c16) |" in stdout and "| gateway, N=2 |" in stdout


def test_one_verdict_line_per_target(smoke: tuple[str, dict]) -> None:
    stdout, results = smoke
    lines = [line for line in stdout.splitlines() if line.startswith("target ")]
    assert [VERDICT.match(line).group(1) for line in lines if VERDICT.match(line)] == VERDICTS, lines
    assert [v["name"] for v in results["verdicts"]] == VERDICTS
    met = {v["name"]: v["met"] for v in results["verdicts"]}
    # smoke skips LiteLLM direct, and the like-for-like stream delay that runs in front of it
    assert met["edge-overhead"] is None and met["throughput"] is None and met["stream-over-floor"] is None
    assert met["cpu-over-floor"] is not None and met["key-over-floor"] is not None  # against the same run's floors
    assert met["edge-cpu"] is not None and met["litellm-paced"] is not None  # measured on the gateway's own LiteLLM
    assert met["cold-burst"] is not None and met["virtual-key"] is not None
    assert all(met[name] is not None for name in ("forged-key", "memory-request", "memory-burst"))


def test_results_json_shape(smoke: tuple[str, dict]) -> None:
    _, results = smoke
    assert results["smoke"] is True and results["leftovers"] == []
    expected = {"machine", "counts", "config", "targets", "cold_start", "ratios", "verdicts", "noise", "duration_s",
                "paced", "cold_burst", "virtual_keys", "forged_key", "memory", "ring"}
    assert expected <= set(results)
    assert set(results["targets"]) == {"provider", "gateway", "gateway_n2"}  # smoke skips LiteLLM direct
    assert {"throughput_rps", "errors"} <= set(results["targets"].pop("gateway_n2")["concurrent"])
    for target in results["targets"].values():
        assert set(target) == {"sequential", "concurrent", "streaming"}
        assert {"p50_ms", "p90_ms", "p99_ms", "cpu_ms_per_request"} <= set(target["sequential"])
        assert {"throughput_rps", "p50_ms", "p99_ms", "errors"} <= set(target["concurrent"])
        assert {"ttfc_p50_ms", "delay_mean_ms", "delay_max_ms", "coalesced_reads"} <= set(target["streaming"])
    gateway = results["targets"]["gateway"]["sequential"]["cpu_ms_per_request"]
    assert {"litellm", "runtime", "provider", "client"} <= set(gateway)
    assert {"runtime_start_wall_s", "gateway_first_request_s", "gateway_litellm_cpu_s"} <= set(results["cold_start"])
    assert {"edge_p50_ms", "edge_p99_ms", "throughput_ratio"} <= set(results["ratios"])


def test_like_for_like_rounds(smoke: tuple[str, dict]) -> None:
    stdout, results = smoke
    paced = results["paced"]
    counts = results["counts"]
    assert paced["rounds_requests"] == counts["rounds"] * counts["per_round"]
    for kind in ("gateway", "paced", "unpaced"):
        assert paced[kind]["litellm_cpu_ms"] is not None, kind
    assert paced["worker"]["litellm_cpu_ms"] is None  # a 401 never reaches LiteLLM
    assert paced["edge_cpu_ms"] is not None and paced["edge_worker_cpu_ms"] is not None
    assert paced["edge_do_cpu_ms"] == round(paced["edge_cpu_ms"] - paced["edge_worker_cpu_ms"], 3)
    assert len(paced["litellm_cpu_ratio_paced_rounds"]) <= counts["rounds"]
    assert "| like for like † (" in stdout and "| Worker-only answer (401 at the edge) |" in stdout


def test_cold_burst(smoke: tuple[str, dict]) -> None:
    stdout, results = smoke
    burst, counts = results["cold_burst"], results["counts"]
    assert burst["instances"] == counts["burst_instances"] and burst["min_warm_instances"] == 1
    assert burst["warm"]["requests"] == burst["cold"]["requests"] == counts["burst"]
    assert burst["warm"]["not_200"] == 0 and burst["warm"]["states_after"] == ["ready"] * burst["instances"]
    # The cold burst started on stopped instances: by its end each had been asked to boot again.
    assert burst["cold"]["states_after"][0] == "ready"
    assert all(state in ("starting", "ready") for state in burst["cold"]["states_after"]), burst["cold"]
    assert burst["p99_ratio"] == round(burst["cold"]["p99_ms"] / burst["warm"]["p99_ms"], 2)
    assert "| cold burst † (" in stdout and "| after all but the warm floor idle-stopped |" in stdout


def test_virtual_keys(smoke: tuple[str, dict]) -> None:
    stdout, results = smoke
    keys, counts = results["virtual_keys"], results["counts"]
    assert keys["rounds_requests"] == counts["rounds"] * counts["per_round"]
    assert {kind: k["key_object_calls"] for kind, k in keys["kinds"].items()} == {"master": 0, "key": 2, "key_rpm": 2}
    for kind in ("key", "key_rpm"):
        added = keys["added"][kind]
        assert added["p50_ms"] == round(keys["kinds"][kind]["p50_ms"] - keys["kinds"]["master"]["p50_ms"], 3)
        assert len(added["p50_ms_rounds"]) == counts["rounds"]
    # Every request sent with each key was booked once, in that key's ledger (the master key's in its own).
    for kind, (booked, sent) in keys["booked_vs_sent"].items():
        assert booked == sent == counts["warmup"] + counts["rounds"] * counts["per_round"], kind
    # The rpm key's window holds every request it sent (all within the last 60 s), none refused.
    assert keys["window_requests_at_end"] == keys["booked_vs_sent"]["key_rpm"][1]
    assert "| virtual keys † (" in stdout and "| virtual key, no limits |" in stdout


def test_forged_key(smoke: tuple[str, dict]) -> None:
    stdout, results = smoke
    forged, counts = results["forged_key"], results["counts"]
    assert forged["body_bytes"] <= 10 * 1024 * 1024 and forged["body_bytes"] > 9_000_000
    assert forged["requests_per_kind"] == counts["forged_rounds"] * counts["forged_per_round"]
    assert set(forged["kinds"]) == {"none", "forged", "random"}
    for kind in forged["kinds"].values():
        assert kind["p50_ms"] <= kind["p95_ms"] <= kind["max_ms"] and kind["runtime_cpu_ms"] is not None
    k = forged["kinds"]
    assert forged["forged_over_none"]["p50_ms"] == round(k["forged"]["p50_ms"] - k["none"]["p50_ms"], 2)
    assert "98d4144" in forged["note"] and "| forged key † (" in stdout


def test_memory(smoke: tuple[str, dict]) -> None:
    stdout, results = smoke
    memory = results["memory"]
    fields = {"wasm", "heapUsed", "external", "arrayBuffers", "total"}
    assert set(memory["idle_baseline"]) == fields and memory["idle_baseline"]["total"] > 0
    names = list(memory["cases"])
    assert names[0] == "a small chat" and len(names) >= 7, names
    for name, row in memory["cases"].items():
        assert set(row["growth"]) == fields and row["status_expected"], (name, row["status"])
        assert row["growth"]["total"] == row["peak"]["total"] - row["baseline"]["total"]
        assert row["budget"] == memory["per_request_budget"] + row["forwarded_bytes"]
    assert memory["cases"]["a small chat"]["status"] == 200
    streams = memory["streams"]
    assert streams["streams"] == 64 and streams["not_200"] == 0
    assert streams["within"] == (streams["peak"]["total"] <= memory["burst_total_budget"])
    assert "| memory † (" in stdout and "| idle baseline" in stdout


def test_recent_ring(smoke: tuple[str, dict]) -> None:
    stdout, results = smoke
    ring = results["ring"]
    us = ring["us_per_booking"]
    assert set(us) == {"key", "key_no_ring", "master", "master_no_ring"} and all(v > 0 for v in us.values())
    assert ring["ring_us"] == {"key": round(us["key"] - us["key_no_ring"], 2),
                               "master": round(us["master"] - us["master_no_ring"], 2)}
    assert "| recent-requests ring † (" in stdout


def test_stream_floor(smoke: tuple[str, dict]) -> None:
    stdout, results = smoke
    floors, over = results["floors"], results["over_floor"]
    for name in ("provider", "relay"):
        assert {"delay_p99_ms", "coalesced_reads", "chunks"} <= set(floors[name]["stream"])
    # Its edge share needs LiteLLM direct's streams, which smoke skips: no row rather than a wrong one.
    assert "stream_p99_over_floor_ms" not in over and "Stream chunk delay p99 added by the edge" not in stdout
