"""What the bench runs: request counts, the LiteLLM config aimed at the fake, the bytecode cache."""

from __future__ import annotations

import hashlib
import importlib
import secrets
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from tests.harness import ROOT as REPO_ROOT

FAKE_OPENAI_KEY = "sk-fake-upstream"
FAKE_ANTHROPIC_KEY = "sk-ant-fake-upstream"
CHAT_MODEL = "gpt-4o-mini"  # the fake answers it at once: what is left is pure gateway/LiteLLM cost
STREAM_MODEL = "bench-stream"
STREAM_CHUNKS = 20
STREAM_DELAY_MS = 20  # far above any forwarding delay, so two chunks in one read can only mean buffering
# "echo: " + marker is split into STREAM_CHUNKS pieces: the marker must be long enough for all of them.
STREAM_MARKER = "bench-stream-marker-0123456789abcdefghij"
FIRST_REQUEST_TIMEOUT_S = 120.0  # a gateway's first request boots LiteLLM
PYCACHE_ROOT = REPO_ROOT / ".local-cache" / "bench-pycache"
FLOORS = REPO_ROOT / "bench" / "floors"  # the minimal workers the edge is measured against (bench/floors.py)


@dataclass(frozen=True)
class Counts:
    warmup: int
    sequential: int
    concurrency: int
    seconds: float
    streams: int
    rounds: int = 0  # like-for-like rounds (bench/paced.py), each of `per_round` requests per kind
    per_round: int = 0
    burst: int = 0  # cold burst (bench/burst.py): requests sent at once, without affinity
    burst_instances: int = 0  # CONTAINER_INSTANCES for it
    forged_rounds: int = 0  # forged-key row (bench/hostile.py): rounds of `forged_per_round` 10 MiB bodies per kind
    forged_per_round: int = 0
    ring_bookings: int = 0  # recent-requests ring (bench/ring.py): bookings per kind and round


FULL = Counts(warmup=50, sequential=300, concurrency=16, seconds=10.0, streams=10, rounds=6, per_round=80,
              burst=30, burst_instances=3, forged_rounds=6, forged_per_round=10, ring_bookings=1000)
# Smoke: two instances, not three (one boot fewer on each side of the idle stop); it checks the harness only.
SMOKE = Counts(warmup=2, sequential=5, concurrency=16, seconds=1.0, streams=2, rounds=2, per_round=3,
               burst=4, burst_instances=2, forged_rounds=2, forged_per_round=2, ring_bookings=20)


def worker_module(name: str) -> ModuleType:
    """A pure module of worker/ (e.g. `auth`, `keys.ops`), for the facts the bench must agree with."""
    worker = str(REPO_ROOT / "worker")
    if worker not in sys.path:
        sys.path.insert(0, worker)  # worker/ modules import as top-level names, as workerd loads them
    return importlib.import_module(name)


def strong_key() -> str:
    """LiteLLM refuses weak master keys; the bench never reuses one across runs."""
    return "sk-" + secrets.token_hex(32)


def render_bench_config(fake_url: str) -> str:
    """The shipped litellm_config.yaml with every deployment aimed at the fake, plus the stream model.

    Router and litellm settings stay exactly as shipped (retries, timeouts, fallbacks, drop_params),
    so LiteLLM's per-request work is what it does in production, minus the network to the provider.
    """
    base = fake_url.rstrip("/")
    config: dict[str, Any] = yaml.safe_load((REPO_ROOT / "litellm_config.yaml").read_text())
    for entry in config["model_list"]:
        params = entry["litellm_params"]
        if params["model"].startswith("anthropic/"):
            params.update(api_base=base, api_key=FAKE_ANTHROPIC_KEY)  # LiteLLM appends /v1/messages
        else:
            params.update(api_base=f"{base}/v1", api_key=FAKE_OPENAI_KEY)
    # The fake reads the upstream model name: 20 chunks, 20 ms apart (tests/fakes/behaviours.py).
    upstream = f"openai/gpt-delay{STREAM_DELAY_MS}-chunks{STREAM_CHUNKS}"
    config["model_list"].append(
        {"model_name": STREAM_MODEL, "litellm_params": {"model": upstream, "api_base": f"{base}/v1",
                                                        "api_key": FAKE_OPENAI_KEY}}
    )
    return yaml.safe_dump(config, sort_keys=False)


def pycache_prefix(kind: str) -> Path:
    """A PYTHONPYCACHEPREFIX tree that mimics the image's bytecode without touching .venv.

    With a prefix set, Python reads and writes .pyc only under it (never in __pycache__ folders), so:
      none - an empty prefix: every module compiled from source at each boot (what uv sync leaves);
      site - site-packages compiled: what container/Dockerfile shipped first (python:3.11-slim deletes
             every stdlib .pyc, and the image's user cannot write them back);
      all  - stdlib and site-packages compiled: what container/Dockerfile ships now.
    Compiling takes ~25 s once; a stamp (uv.lock + Python version) skips it until the env changes.
    """
    prefix = PYCACHE_ROOT / kind
    prefix.mkdir(parents=True, exist_ok=True)
    stamp = prefix / ".stamp"
    want = hashlib.sha256((REPO_ROOT / "uv.lock").read_bytes() + sys.version.encode()).hexdigest()
    if kind == "none" or (stamp.exists() and stamp.read_text() == want):
        return prefix
    trees = {"site": ["purelib"], "all": ["stdlib", "purelib"]}[kind]
    for tree in trees:
        path = sysconfig.get_paths()[tree]
        # The image has no stdlib tests, and the interpreter's own site-packages is not the venv's.
        skip = ["-x", r"/(site-packages|test|tests|idlelib|tkinter|turtledemo)/"] if tree == "stdlib" else []
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", "-j", "0", *skip, path],
            env={"PYTHONPYCACHEPREFIX": str(prefix), "PATH": "/usr/bin:/bin"},
            check=False,  # a few test files in site-packages never compile; the rest still does
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    stamp.write_text(want)
    return prefix


if __name__ == "__main__":  # `python -m bench.config FAKE_URL`: the config a gateway measured remotely serves
    print(render_bench_config(sys.argv[1]), end="")
