"""Fixtures for the virtual-key tests (the fakes live in keys_fakes)."""

import pytest
from keys_fakes import Clock, FakeRpc


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rpc(clock: Clock) -> FakeRpc:
    return FakeRpc(clock)
