"""Run the fake provider as a subprocess from tests: ``with FakeProvider.start(chunks=3) as fake: ...``."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Self

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
LISTENING_PREFIX = "FAKE_PROVIDER_LISTENING "
START_TIMEOUT_S = 10.0


def _python() -> str:
    venv_python = REPO_ROOT / ".venv" / "bin" / "python"
    return str(venv_python) if venv_python.exists() else sys.executable


class FakeProvider:
    """Handle on a running fake provider process; use as a context manager or call stop()."""

    def __init__(self, proc: subprocess.Popen[str] | None, port: int, url: str | None = None) -> None:
        self.proc = proc
        self.port = port
        self.url = url or f"http://127.0.0.1:{port}"
        self._client = httpx.Client(base_url=self.url, timeout=10.0)

    @classmethod
    def attach(cls, url: str) -> Self:
        """A fake provider someone else runs (the one a remote gateway's models point at)."""
        return cls(None, 0, url.rstrip("/"))

    @classmethod
    def start(
        cls,
        *,
        slow_ms: int | None = None,
        chunk_delay_ms: int | None = None,
        chunks: int | None = None,
        port: int = 0,
        timeout: float = START_TIMEOUT_S,
    ) -> Self:
        """Spawn ``python -m tests.fakes.fake_provider`` and wait for its LISTENING line."""
        args = [_python(), "-m", "tests.fakes.fake_provider", "--port", str(port)]
        for flag, value in (
            ("--slow-ms", slow_ms),
            ("--chunk-delay-ms", chunk_delay_ms),
            ("--chunks", chunks),
        ):
            if value is not None:
                args += [flag, str(value)]
        proc = subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        line = _readline_with_timeout(proc, timeout)
        if not line.startswith(LISTENING_PREFIX):
            proc.kill()
            proc.wait()
            raise RuntimeError(f"fake provider did not start within {timeout}s (got {line!r}, rc={proc.returncode})")
        return cls(proc, int(line.removeprefix(LISTENING_PREFIX)))

    def stats(self) -> dict[str, Any]:
        response = self._client.get("/_fake/stats")
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._client.post("/_fake/reset").raise_for_status()

    def stop(self) -> None:
        self._client.close()
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _readline_with_timeout(proc: subprocess.Popen[str], timeout: float) -> str:
    """readline() on a pipe cannot time out by itself; a helper thread keeps the wait bounded."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline() if proc.stdout else ""))
    reader.daemon = True
    reader.start()
    reader.join(timeout)
    return result[0].strip() if result else ""
