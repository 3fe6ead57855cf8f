"""The local runtime's HTTP front is as strict as workerd's (issue "Untrusted callers" §6), seen over HTTP."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import launch
from tests.harness import FakeProvider, Gateway, wait_for
from tests.harness.procs import pid_alive

pytestmark = pytest.mark.local_only
CHAT = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}).encode()


def test_a_host_that_would_move_the_path_never_reaches_litellm_pass_through(gateway: Gateway,
                                                                          provider: FakeProvider) -> None:
    for host in ("x\\openai\\v1\\files%3F", "x\\anthropic\\v1\\messages%3F", "x/openai/v1/files"):
        response = gateway.raw("GET", "/v1/models", {"host": host, **gateway.auth()})
        assert response.status in (200, 400, 404), host
        if response.status == 200:  # served as /v1/models, never as a pass-through route
            assert json.loads(response.body)["object"] == "list"
    assert provider.stats()["total"] == 0


def test_a_header_flood_is_refused_at_once(gateway: Gateway) -> None:
    flood = {f"x-flood-{i}": "y" for i in range(1200)}
    started = time.monotonic()
    response = gateway.raw("POST", "/v1/chat/completions",
                           {**flood, **gateway.auth(), "content-type": "application/json",
                            "content-length": str(len(CHAT))}, CHAT)
    assert response.status == 431 and time.monotonic() - started < 5
    assert gateway.health()["container"]["inflight"] == 0


def test_a_declared_oversized_upload_is_answered_at_once(gateway: Gateway) -> None:
    body = b"x" * (11 * 1024 * 1024)
    started = time.monotonic()
    response = gateway.raw("POST", "/v1/chat/completions",
                           {**gateway.auth(), "content-type": "application/json"}, body)
    assert response.status == 413 and time.monotonic() - started < 3


def test_containers_die_with_the_runtime_however_it_dies(litellm_config: Path) -> None:
    gateway = launch(litellm_config)
    try:
        assert gateway.chat("gpt-4o-mini", "boot").status_code == 200
        pids = [c["pid"] for c in gateway.running()]
        assert pids and all(isinstance(pid, int) for pid in pids)
        assert gateway.process is not None
        os.kill(gateway.process.pid, signal.SIGKILL)  # no chance to clean up
        wait_for(lambda: not any(pid_alive(pid) for pid in pids), 10)
    finally:
        gateway.stop()

