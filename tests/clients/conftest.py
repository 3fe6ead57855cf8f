"""The official SDKs against the gateway, as users meet it: the local runtime with a real LiteLLM whose
models point at the fake provider (the e2e suite's setup), plus the models these cases add and a browser
origin allowed by CORS for the headless-Chromium cases. With GATEWAY_URL set, the cases run against that
gateway and those needing the added models or the browser origin skip."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import launch
from tests.fakes.litellm_config import DUMMY_ANTHROPIC_KEY, render_test_config
from tests.harness import FakeProvider, Gateway, free_port
from tests.harness.suite import fake_provider, warm_gateway

# Added to the e2e models: an Anthropic-native deployment whose provider always answers 429 + Retry-After.
ANTHROPIC_LIMITED = "claude-limited"


def clients_config(fake_url: str) -> str:
    config = yaml.safe_load(render_test_config(fake_url))
    config["model_list"].append({"model_name": ANTHROPIC_LIMITED, "litellm_params": {
        "model": "anthropic/claude-fail-429", "api_base": fake_url, "api_key": DUMMY_ANTHROPIC_KEY}})
    return yaml.safe_dump(config, sort_keys=False)


@pytest.fixture(scope="session")
def clients_fake() -> Iterator[FakeProvider | None]:
    with fake_provider(chunks=4) as provider:
        yield provider


@pytest.fixture(scope="session")
def page_origin() -> str:
    """The origin the browser page is served from: another port than the gateway's, so another origin."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def sdk_gateway(clients_fake: FakeProvider | None, page_origin: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    def start() -> Gateway:
        assert clients_fake is not None
        config: Path = tmp_path_factory.mktemp("clients") / "litellm_clients_config.yaml"
        config.write_text(clients_config(clients_fake.url))
        return launch(config, env={"CORS_ALLOWED_ORIGINS": page_origin})

    with warm_gateway(start) as gateway:
        yield gateway


@pytest.fixture
def local_gateway(sdk_gateway: Gateway) -> Gateway:
    if not sdk_gateway.local:
        pytest.skip("needs the models and CORS origin this suite configures (GATEWAY_URL is set)")
    return sdk_gateway
