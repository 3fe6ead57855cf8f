"""A throwaway Redis for the scaling tests: ``with RedisServer.start() as redis: ...``.

Runs Debian's ``redis-server`` on a free loopback port with persistence off, waits until it answers
PING, and stops it afterwards. Without the binary the calling tests skip (``apt-get install -y
redis-server``). The client is redis-py, which LiteLLM's proxy extra already installs.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

import pytest
import redis

from tests.harness import free_port

BINARY = "redis-server"
START_TIMEOUT_S = 10.0


class RedisServer:
    """A running redis-server process; use as a context manager or call stop()."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.process = process
        self.host = "127.0.0.1"
        self.port = port
        self.log_path = log_path
        self.client = redis.Redis(host=self.host, port=port, socket_timeout=5, decode_responses=True)

    @classmethod
    def start(cls, timeout: float = START_TIMEOUT_S) -> Self:
        """Start redis-server and wait for PING; skips the calling test when the binary is missing."""
        binary = shutil.which(BINARY)
        if binary is None:
            pytest.skip(f"{BINARY} is not installed (apt-get install -y redis-server)")
        port = free_port()
        log_path = Path(tempfile.mkdtemp(prefix="redis-test-")) / "redis.log"
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(log_path.parent), "--logfile", str(log_path)]
        server = cls(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT), port, log_path)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if server.client.ping():
                    return server
            except redis.ConnectionError:
                pass
            if server.process.poll() is not None or time.monotonic() > deadline:
                log = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
                server.stop()
                raise RuntimeError(f"redis-server did not answer PING on port {port}:\n{log}")
            time.sleep(0.05)

    def keys(self, pattern: str) -> list[str]:
        return sorted(self.client.scan_iter(match=pattern))

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.log_path.parent, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
