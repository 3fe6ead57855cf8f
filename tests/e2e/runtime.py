"""Starts the local runtime (node local/cli.mjs) as a test gateway and talks to its control API."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[2]
READY_PREFIX = "Ready on "
START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class Gateway:
    """A gateway under test: a base URL and a key, plus local control when we started it ourselves."""

    def __init__(self, url: str, key: str, process: subprocess.Popen[str] | None = None) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.process = process
        self.logs: deque[str] = deque(maxlen=5000)
        self.client = httpx.Client(base_url=self.url, timeout=httpx.Timeout(120.0, connect=5.0))

    @property
    def local(self) -> bool:
        return self.process is not None

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
        return response.json()

    def kill_container(self, container_id: str) -> None:
        self.client.post(f"/__local/containers/{container_id}/kill").raise_for_status()

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

    def log_text(self) -> str:
        return "\n".join(self.logs)

    def stop(self) -> None:
        self.client.close()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start_gateway(
    *,
    key: str,
    litellm_config: Path | None,
    env: dict[str, str] | None = None,
    containers: bool = True,
    container_env: dict[str, str] | None = None,
) -> Gateway:
    """Starts `node local/cli.mjs` on a free port with the control API on; returns once it says Ready."""
    port = free_port()
    args = ["node", str(ROOT / "local" / "cli.mjs"), "--port", str(port), "--control"]
    if not containers:
        args.append("--no-containers")
    if litellm_config is not None:
        args += ["--litellm-config", str(litellm_config)]
    for name, value in (container_env or {}).items():
        args += ["--container-env", f"{name}={value}"]
    process_env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    process_env.update({"LITELLM_MASTER_KEY": key, "DEMO_MODELS": "false", "LOG_LEVEL": "info", **(env or {})})
    process = subprocess.Popen(
        args, cwd=ROOT, env=process_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # our own process group: a hard kill takes LiteLLM with it
    )
    gateway = Gateway(f"http://127.0.0.1:{port}", key, process)
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            gateway.logs.append(line.rstrip("\n"))
            if line.startswith(READY_PREFIX):
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready.wait(0.1):
        if process.poll() is not None or time.monotonic() > deadline:
            gateway.stop()
            raise RuntimeError(f"local runtime did not start:\n{gateway.log_text()[-3000:]}")
    return gateway

