"""Ports, polling and process groups: what launching and measuring processes needs.

Every process the harness starts runs in its own process group, so one killpg() reaches everything it
spawned, and its CPU is read from /proc: a group's CPU is the sum over its live members plus what the
leader already reaped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[2]
CLK_TCK = os.sysconf("SC_CLK_TCK")

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(probe: Callable[[], T], timeout: float, interval: float = 0.05, message: str = "") -> T:
    """The first truthy value `probe` returns; TimeoutError after `timeout` s. A probe may raise to give up."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(message or f"condition not met within {timeout}s")
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


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
    """Resident memory of a process group (MiB): what a container's memory limit sees."""
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
    with contextlib.suppress(TimeoutError):
        wait_for(lambda: not group_alive(pgid), grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
