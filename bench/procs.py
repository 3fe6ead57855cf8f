"""The processes the bench runs: LiteLLM direct (container/start.sh) and the whole gateway (local/cli.mjs).

Each runs in its own process group, so one killpg() reaches everything it spawned, and CPU is read
from /proc: a group's CPU is the sum over its live members plus what the leader reaped.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.e2e.runtime import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
START_SH = REPO_ROOT / "container" / "start.sh"
CLI = REPO_ROOT / "local" / "cli.mjs"
CLK_TCK = os.sysconf("SC_CLK_TCK")
BOOT_TIMEOUT_S = 90.0
# What local/cli.mjs gives every container besides the Durable Object's env (its CONTAINER_BASE_ENV):
# LiteLLM direct gets the very same, so the two LiteLLMs differ only in who sends them requests.
CONTAINER_BASE_ENV = {
    "PATH": f"{REPO_ROOT / '.venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin",
    "HOME": os.environ.get("HOME", "/tmp"),
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        # comm (field 2) may contain spaces and parentheses: split after the last ')'.
        return f.read().rsplit(")", 1)[1].split()


def pid_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) of one live process."""
    f = _stat_fields(pid)
    return (int(f[11]) + int(f[12])) / CLK_TCK


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int(_stat_fields(int(entry))[2]) == pgid:
                    members.append(int(entry))
    return members


def group_cpu(pgid: int) -> float:
    """CPU seconds of a process group: live members, plus children the leader already reaped."""
    total = 0.0
    for pid in group_members(pgid):
        with contextlib.suppress(OSError, IndexError):
            f = _stat_fields(pid)
            total += int(f[11]) + int(f[12])
            if pid == pgid:
                total += int(f[13]) + int(f[14])
    return total / CLK_TCK


def group_rss_mb(pgid: int) -> float:
    """Resident memory of a process group (MiB): what the container's memory limit sees."""
    total_kb = 0
    for pid in group_members(pgid):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
            total_kb += next((int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:")), 0)
    return total_kb / 1024


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def stop_group(pgid: int, grace: float = 5.0) -> None:
    """SIGTERM the group, SIGKILL what is left after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def http_status(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except OSError:
        return 0


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


class LiteLLMDirect:
    """container/start.sh as its own process group, the same command the image and the runtime run."""

    def __init__(self, config: Path, master_key: str, env: dict[str, str], log: Path, start: Path = START_SH) -> None:
        self.port = free_port()
        self.master_key = master_key
        child_env = {
            **CONTAINER_BASE_ENV,
            **env,
            "LITELLM_CONFIG": str(config),
            "LITELLM_MASTER_KEY": master_key,
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
        }
        self._log = log.open("w")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(start)], env=child_env, cwd=REPO_ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self) -> tuple[float, float]:
        """Poll /health/liveliness; returns (wall seconds, group CPU seconds) from spawn to the first 200."""
        url = f"http://127.0.0.1:{self.port}/health/liveliness"
        deadline = self.started + BOOT_TIMEOUT_S
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"LiteLLM exited with {self.proc.returncode} while booting (see {self._log.name})")
            if http_status(url, timeout=1.0) == 200:
                return time.perf_counter() - self.started, group_cpu(self.proc.pid)
            time.sleep(0.05)
        raise TimeoutError(f"LiteLLM not ready after {BOOT_TIMEOUT_S}s (see {self._log.name})")

    def cpu(self) -> float:
        return group_cpu(self.proc.pid)

    def stop(self) -> bool:
        """Stop the group; True when nothing of it is left."""
        stop_group(self.proc.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._log.close()
        return not group_alive(self.proc.pid)


class Gateway:
    """The local runtime (node local/cli.mjs --control) with LiteLLM containers it starts on demand."""

    def __init__(self, config: Path, client_key: str, container_env: dict[str, str], log: Path,
                 runtime_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.client_key = client_key
        args = ["node", str(CLI), "--port", str(self.port), "--control", "--litellm-config", str(config)]
        for key, value in container_env.items():
            args += ["--container-env", f"{key}={value}"]
        self.log_path = log
        self._log = log.open("w")
        self.started = time.perf_counter()
        # The runtime's logs go to a file, not a pipe: an undrained pipe would stall node mid-benchmark.
        self.proc = subprocess.Popen(
            args, env={**os.environ, **(runtime_env or {}), "LITELLM_MASTER_KEY": client_key}, cwd=REPO_ROOT,
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.container_pgids: set[int] = set()

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Wait for the runtime's `Ready on` line; returns wall seconds from spawn."""
        needle = f"Ready on http://127.0.0.1:{self.port}"
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if needle in self.log_path.read_text(errors="replace"):
                return time.perf_counter() - self.started
            if self.proc.poll() is not None:
                raise RuntimeError(f"local runtime exited with {self.proc.returncode} (see {self.log_path})")
            time.sleep(0.02)
        raise TimeoutError(f"local runtime not ready after {timeout}s (see {self.log_path})")

    def containers(self) -> list[dict]:
        found = get_json(f"http://127.0.0.1:{self.port}/__local/containers")
        assert isinstance(found, list)
        for c in found:
            if c.get("pid"):
                self.container_pgids.add(int(c["pid"]))
        return found

    def litellm_pgid(self) -> int:
        running = [c for c in self.containers() if c.get("running") and c.get("pid")]
        if len(running) != 1:
            raise RuntimeError(f"expected one running container, found {running}")
        return int(running[0]["pid"])

    def runtime_cpu(self) -> float:
        return pid_cpu(self.proc.pid)

    def stop(self) -> list[int]:
        """SIGTERM the runtime (it stops its containers); returns process groups that outlived it."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            stop_group(self.proc.pid)
            self.proc.wait(timeout=5)
        self._log.close()
        left = [g for g in {self.proc.pid, *self.container_pgids} if group_alive(g)]
        for pgid in left:  # ours (started by our runtime): do not leave them behind, but report them
            stop_group(pgid, grace=1.0)
        return left
