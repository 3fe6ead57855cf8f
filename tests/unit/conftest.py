"""Fixtures every unit test may use: the virtual-key fakes (tests/unit/keys/keys_fakes.py) serve the key objects'
tests and the container's booking tests alike."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).with_name("keys")))

from keys_fakes import Clock, FakeRpc


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rpc(clock: Clock) -> FakeRpc:
    return FakeRpc(clock)
