"""LiteLLM on its own: container/start.sh, the start command of the image and of the local runtime's containers."""

from __future__ import annotations

import contextlib
import functools
import json
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.harness.procs import ROOT, free_port, group_alive, group_cpu, stop_group, wait_for
from tests.harness.runtime import CLI

START_SH = ROOT / "container" / "start.sh"
BOOT_TIMEOUT_S = 90.0


@functools.cache
def container_base_env() -> dict[str, str]:
    """What the local runtime gives every container besides the Durable Object's env, asked from the runtime
    itself: a LiteLLM started here then differs from the runtime's only in who sends it requests."""
    out = subprocess.run(["node", str(CLI), "--print-container-base-env"], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    env = json.loads(out)
    assert isinstance(env, dict) and all(isinstance(v, str) for v in env.values()), out
    return env


def http_status(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except OSError:
        return 0


class LiteLLMDirect:
    """container/start.sh as its own process group, its output in `log`."""

    def __init__(self, config: Path, master_key: str, env: dict[str, str], log: Path, start: Path = START_SH) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.master_key = master_key
        child_env = {
            **container_base_env(),
            **env,
            "LITELLM_CONFIG": str(config),
            "LITELLM_MASTER_KEY": master_key,
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
        }
        self._log = log.open("w")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(start)], env=child_env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self) -> tuple[float, float]:
        """Poll /health/liveliness; returns (wall seconds, group CPU seconds) from spawn to the first 200."""

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"LiteLLM exited with {self.proc.returncode} while booting (see {self._log.name})")
            return http_status(f"{self.url}/health/liveliness", timeout=1.0) == 200

        wait_for(ready, BOOT_TIMEOUT_S, message=f"LiteLLM not ready after {BOOT_TIMEOUT_S}s (see {self._log.name})")
        return time.perf_counter() - self.started, group_cpu(self.proc.pid)

    def cpu(self) -> float:
        return group_cpu(self.proc.pid)

    def stop(self) -> bool:
        """Stop the group; True when nothing of it is left."""
        stop_group(self.proc.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._log.close()
        return not group_alive(self.proc.pid)
