"""What the HTTP suites' fixtures share: the gateway under test is the local runtime, or GATEWAY_URL's.

With GATEWAY_URL (and GATEWAY_KEY) set, the suites talk to that gateway; FAKE_PROVIDER_URL then names the
fake provider its models point at, so the cases that prove what reached the provider can run too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

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
