"""The e2e suite's gateways. By default: the local runtime with a real LiteLLM whose models point at
the fake provider. With GATEWAY_URL (and GATEWAY_KEY) set: that gateway, and local-only cases skip;
FAKE_PROVIDER_URL then names the fake provider its models point at, so the cases that prove what reached
the provider run too (they skip without it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.litellm_config import container_test_env, render_test_config
from tests.harness import FakeProvider, Gateway, LiteLLMDirect, start_gateway
from tests.harness.suite import REMOTE_URL, fake_provider, warm_gateway

E2E_KEY = "sk-e2e-client-key-4c1d2b"  # what clients present; the container gets a derived key
UPSTREAM_KEY = "sk-upstream-" + "7" * 40  # the master key of the LiteLLM `existing_litellm` runs


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not REMOTE_URL:
        return
    skip = pytest.mark.skip(reason="needs control of the local runtime (GATEWAY_URL is set)")
    for item in items:
        if "local_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeProvider | None]:
    with fake_provider(chunks=5) as provider:
        yield provider


@pytest.fixture(scope="session")
def litellm_config(fake: FakeProvider | None, tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    if fake is None or REMOTE_URL:
        return None
    path = tmp_path_factory.mktemp("litellm") / "litellm_test_config.yaml"
    path.write_text(render_test_config(fake.url))
    return path


def launch(litellm_config: Path | None, **kwargs: object) -> Gateway:
    return start_gateway(key=E2E_KEY, litellm_config=litellm_config, container_env=container_test_env(),
                         **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def gateway(litellm_config: Path | None) -> Iterator[Gateway]:
    """The shared gateway, warmed: LiteLLM has booted and answered once."""
    with warm_gateway(lambda: launch(litellm_config)) as gateway:
        yield gateway


@pytest.fixture(scope="session")
def existing_litellm(litellm_config: Path | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A LiteLLM running outside any gateway (started by container/start.sh), for gateways that front it
    (LITELLM_UPSTREAM_URL, key UPSTREAM_KEY): its URL."""
    if litellm_config is None:
        pytest.skip("needs a local LiteLLM (GATEWAY_URL is set)")
    log = tmp_path_factory.mktemp("existing") / "litellm.log"
    litellm = LiteLLMDirect(litellm_config, UPSTREAM_KEY, container_test_env(), log)
    try:
        litellm.wait_ready()
        yield litellm.url
    finally:
        litellm.stop()


@pytest.fixture
def provider(fake: FakeProvider | None) -> FakeProvider:
    """The fake provider, reset; for cases that prove what did (not) reach it."""
    if fake is None:
        pytest.skip("needs the fake provider's counters: set FAKE_PROVIDER_URL to the one the gateway uses")
    fake.reset()
    return fake
