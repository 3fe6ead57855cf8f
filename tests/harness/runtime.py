"""The local runtime (node local/cli.mjs --control) as a gateway under test, or any running gateway by URL.

Its output goes to a pipe drained by a thread (the suites assert on log lines) or, with `log_file`, to a
file: the bench's choice, so that no thread of the measuring process competes with what it measures.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import httpx

from tests.harness.procs import ROOT, free_port, group_alive, pid_cpu, stop_group, wait_for

CLI = ROOT / "local" / "cli.mjs"
READY_PREFIX = "Ready on "
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class Gateway:
    """A gateway under test: a base URL and a key, plus local control when we started it ourselves."""

    def __init__(self, url: str, key: str, process: subprocess.Popen[str] | None = None,
                 log_file: IO[str] | None = None) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.process = process
        self._log_file = log_file  # the runtime's output when it goes to a file (start_gateway's log_file)
        self.ready_s: float | None = None  # wall seconds from spawn to "Ready on", when we started it
        self.container_pgids: set[int] = set()  # every container process group seen, to check none outlives us
        self._lines: deque[str] = deque(maxlen=5000)
        self.client = httpx.Client(base_url=self.url, timeout=httpx.Timeout(120.0, connect=5.0))

    @property
    def local(self) -> bool:
        return self.process is not None

    @property
    def port(self) -> int:
        target = urlsplit(self.url)
        return target.port or (443 if target.scheme == "https" else 80)

    def auth(self, **extra: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.key}", **extra}

    def chat(self, model: str, content: str, **body: object) -> httpx.Response:
        payload = {"model": model, "messages": [{"role": "user", "content": content}], **body}
        return self.client.post("/v1/chat/completions", json=payload, headers=self.auth())

    def health(self) -> dict:
        response = self.client.get("/health")
        assert response.status_code == 200, response.text
        return response.json()

    def containers(self) -> list[dict]:
        response = self.client.get("/__local/containers")
        response.raise_for_status()
        found = response.json()
        self.container_pgids.update(int(c["pid"]) for c in found if c.get("pid"))
        return found

    def running(self) -> list[dict]:
        return [c for c in self.containers() if c["running"]]

    def kill_container(self, container_id: str) -> None:
        self.client.post(f"/__local/containers/{container_id}/kill").raise_for_status()

    def memory(self) -> dict:
        """What an isolate would hold (bytes): `current`, `peak` and `baseline` of wasm, heapUsed, external,
        arrayBuffers and total (= heapUsed + external, which holds the Wasm memory and arrayBuffers); `peak` and
        `baseline` are None until the first memory_baseline()."""
        return self._control("GET", "/__local/memory")

    def memory_baseline(self) -> dict:
        """A full garbage collection, then the peaks start again from what is left; returns memory()."""
        return self._control("POST", "/__local/memory/baseline")

    def calls(self) -> dict[str, dict[str, int]]:
        """Per Durable Object class: `objects` alive in the runtime, `calls` delivered to them (fetches and RPC) and
        `rpc`, how many of those were RPC calls."""
        return self._control("GET", "/__local/calls")

    def storage(self) -> dict[str, dict[str, int]]:
        """Per Durable Object class: `objects` whose storage holds anything (a table or a key) and their `bytes`."""
        return self._control("GET", "/__local/storage")

    def uncaught(self) -> dict:
        """What workerd would log as uncaught exceptions: `count` since start and the `recent` messages."""
        return self._control("GET", "/__local/uncaught")

    def _control(self, method: str, path: str) -> dict:
        response = self.client.request(method, path)
        response.raise_for_status()
        return response.json()

    def runtime_cpu(self) -> float:
        """CPU seconds the runtime's node process has used (Worker, Durable Objects, HTTP; not containers)."""
        assert self.process is not None, "only a runtime we started has a process to measure"
        return pid_cpu(self.process.pid)

    def raw(self, method: str, path: str, headers: dict[str, str], body: bytes | None = None) -> RawResponse:
        """Byte-for-byte request (httpx normalises paths and refuses odd header values)."""
        target = urlsplit(self.url)
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def log_lines(self) -> list[str]:
        if self._log_file is not None:
            return Path(self._log_file.name).read_text(errors="replace").splitlines()
        return list(self._lines)

    def log_text(self) -> str:
        return "\n".join(self.log_lines())

    def stop(self) -> list[int]:
        """Stop the runtime (it stops its containers); returns the process groups that outlived it (killed)."""
        if self.process is None:
            self.client.close()
            return []
        if self.process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                self.containers()  # note every container group, so a leftover can be found below
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                stop_group(self.process.pid, grace=1.0)
                self.process.wait()
        self.client.close()
        if self._log_file is not None:
            self._log_file.close()
        groups = {self.process.pid, *self.container_pgids}
        with contextlib.suppress(TimeoutError):  # a group whose last process just died may await its reaping
            wait_for(lambda: not any(group_alive(g) for g in groups), 2.0)
        left = sorted(g for g in groups if group_alive(g))
        for pgid in left:
            stop_group(pgid, grace=1.0)
        return left

    def _pump(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.append(line.rstrip("\n"))


def start_gateway(
    *,
    key: str,
    litellm_config: Path | None,
    env: dict[str, str] | None = None,
    containers: bool = True,
    container_env: dict[str, str] | None = None,
    log_file: Path | None = None,
    state_dir: Path | None = None,  # keep Durable Object storage there (else in memory)
    cli: Path = CLI,  # another tree's local/cli.mjs (bench/edge_profile.py runs a profiled copy)
    project: Path | None = None,  # serve the worker configured in that folder's wrangler.jsonc (bench/floors/)
) -> Gateway:
    """Starts `node local/cli.mjs` on a free port with the control API on; returns once it says Ready."""
    port = free_port()
    args = ["node", str(cli), "--port", str(port), "--control"]
    if not containers:
        args.append("--no-containers")
    if litellm_config is not None:
        args += ["--litellm-config", str(litellm_config)]
    for name, value in (container_env or {}).items():
        args += ["--container-env", f"{name}={value}"]
    if state_dir is not None:
        args += ["--state-dir", str(state_dir)]
    if project is not None:
        args += ["--project", str(project)]
    # Provider keys of the developer's shell must not reach a gateway under test.
    process_env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    process_env.update({"LITELLM_MASTER_KEY": key, "DEMO_MODELS": "false", "LOG_LEVEL": "info", **(env or {})})
    output = log_file.open("w") if log_file is not None else None
    started = time.perf_counter()
    process = subprocess.Popen(
        args, cwd=ROOT, env=process_env, stdout=output or subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # our own process group: a hard kill takes LiteLLM with it
    )
    gateway = Gateway(f"http://127.0.0.1:{port}", key, process, output)
    if output is None:
        threading.Thread(target=gateway._pump, daemon=True).start()

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"local runtime exited with {process.returncode}")
        return any(line.startswith(READY_PREFIX) for line in gateway.log_lines())

    try:
        wait_for(ready, START_TIMEOUT_S, interval=0.02)
    except (RuntimeError, TimeoutError) as failure:
        gateway.stop()
        raise RuntimeError(f"local runtime did not start ({failure}):\n{gateway.log_text()[-3000:]}") from None
    gateway.ready_s = time.perf_counter() - started
    return gateway
