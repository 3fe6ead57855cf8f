"""LiteLLM 1.108.7's own quirks that clients meet through the gateway, checked against LiteLLM directly
(container/start.sh, no gateway in front) so README "Known upstream issues" states LiteLLM's behaviour,
not ours. When an upgrade fixes one, its case fails: update the README and drop the case."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.clients.conftest import ANTHROPIC_LIMITED, clients_config
from tests.fakes.fake_provider import RETRY_AFTER_SECONDS
from tests.fakes.litellm_config import container_test_env
from tests.harness import FakeProvider, LiteLLMDirect
from tests.harness.suite import REMOTE_URL

pytestmark = pytest.mark.skipif(bool(REMOTE_URL), reason="starts LiteLLM locally")
KEY = "sk-quirks-7f3a9c1e5b"


@pytest.fixture(scope="module")
def litellm(clients_fake: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    workdir = tmp_path_factory.mktemp("quirks")
    config = workdir / "config.yaml"
    config.write_text(clients_config(clients_fake.url))
    direct = LiteLLMDirect(config, KEY, container_test_env(), workdir / "litellm.log")
    try:
        direct.wait_ready()
        with httpx.Client(base_url=direct.url, headers={"authorization": f"Bearer {KEY}"}, timeout=30) as client:
            yield client
    finally:
        direct.stop()


def test_last_chunk_of_a_streamed_legacy_completion_has_no_text(litellm: httpx.Client) -> None:
    answer = litellm.post("/v1/completions", json={"model": "gpt-3.5-turbo-instruct", "prompt": "q", "stream": True})
    events = [json.loads(line[len("data: "):]) for line in answer.text.splitlines()
              if line.startswith("data: ") and line != "data: [DONE]"]
    last = events[-1]["choices"][0]
    assert last["finish_reason"] == "stop" and "text" not in last
    assert all("text" in event["choices"][0] for event in events[:-1])


def test_provider_429_on_messages_loses_retry_after(litellm: httpx.Client) -> None:
    body = {"model": ANTHROPIC_LIMITED, "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}
    messages = litellm.post("/v1/messages", json=body)
    assert messages.status_code == 429 and messages.json()["error"]["type"] == "rate_limit_error"
    assert not [name for name in messages.headers if "retry-after" in name.lower()], dict(messages.headers)
    # The same provider answer on /v1/chat/completions keeps it (as llm_provider-retry-after, which the
    # gateway passes on as Retry-After).
    chat = litellm.post("/v1/chat/completions", json={"model": ANTHROPIC_LIMITED, "messages": body["messages"]})
    assert chat.status_code == 429 and chat.headers["llm_provider-retry-after"] == RETRY_AFTER_SECONDS
