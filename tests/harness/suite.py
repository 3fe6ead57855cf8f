"""What the HTTP suites' fixtures share: the gateway under test is the local runtime, or GATEWAY_URL's.

With GATEWAY_URL (and GATEWAY_KEY) set, the suites talk to that gateway; FAKE_PROVIDER_URL then names the
fake provider its models point at, so the cases that prove what reached the provider can run too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

from tests.fakes.provider_process import FakeProvider
from tests.harness.runtime import Gateway

REMOTE_URL = os.environ.get("GATEWAY_URL")


def remote_gateway() -> Gateway:
    assert REMOTE_URL, "GATEWAY_URL is not set"
    return Gateway(REMOTE_URL, os.environ.get("GATEWAY_KEY", "sk-1234"))


@contextlib.contextmanager
def fake_provider(chunks: int) -> Iterator[FakeProvider | None]:
    """The fake the gateway's models point at: started here, FAKE_PROVIDER_URL's for a remote gateway, or None."""
    if REMOTE_URL:
        remote_fake = os.environ.get("FAKE_PROVIDER_URL")
        yield FakeProvider.attach(remote_fake) if remote_fake else None
        return
    with FakeProvider.start(chunks=chunks) as provider:
        yield provider


@contextlib.contextmanager
def warm_gateway(launch: Callable[[], Gateway]) -> Iterator[Gateway]:
    """GATEWAY_URL's gateway, or the one `launch()` starts, warmed: LiteLLM has booted and answered once."""
    gateway = remote_gateway() if REMOTE_URL else launch()
    try:
        if gateway.local:
            warm = gateway.chat("gpt-4o-mini", "warm-up")
            assert warm.status_code == 200, warm.text
        yield gateway
    finally:
        gateway.stop()
