"""Untrusted callers (issue "Untrusted callers"): what a key holder must not be able to make LiteLLM do.

Each case sends what an attack run sent and proves, at the fake provider, that no extra call and no
foreign key left the gateway.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator

import httpx
import pytest
import yaml

from tests.e2e.assertions import openai_error
from tests.e2e.conftest import E2E_KEY, launch
from tests.e2e.uploads import OVERSIZED_MULTIPART_TYPE, oversized_multipart
from tests.fakes.litellm_config import render_test_config
from tests.harness import FakeProvider, Gateway, start_gateway, wait_for

CHAT = [{"role": "user", "content": "long enough to be split into forty stream chunks by the fake provider"}]


def chat(gateway: Gateway, **body: object) -> httpx.Response:
    return gateway.client.post("/v1/chat/completions", json={"messages": CHAT, **body}, headers=gateway.auth())


@pytest.mark.parametrize(("name", "value"), [
    ("custom_llm_provider", "anthropic"), ("custom_llm_provider", "ollama"), ("api_base", "http://127.0.0.1:1"),
    ("base_url", "http://127.0.0.1:1"), ("api_key", "sk-other"), ("extra_headers", {"Host": "evil.example"}),
    ("user_config", {"model_list": []}), ("mock_response", "hi"), ("fallbacks", ["claude-3-5-sonnet"]),
])
def test_steering_parameters_are_refused_before_any_provider_call(gateway: Gateway, provider: FakeProvider,
                                                                  name: str, value: object) -> None:
    response = chat(gateway, model="gpt-4o", **{name: value})
    assert response.status_code == 400, response.text
    error = openai_error(response)
    assert error["code"] == "param_not_allowed" and error["param"] == name
    assert provider.stats()["total"] == 0


def test_a_json_array_body_is_a_400_not_litellm_500(gateway: Gateway, provider: FakeProvider) -> None:
    response = gateway.client.post("/v1/chat/completions", content=b"[1, 2]",
                                   headers=gateway.auth(**{"content-type": "application/json"}))
    assert response.status_code == 400 and openai_error(response)["code"] == "invalid_body"
    assert provider.stats()["total"] == 0


def test_num_retries_is_capped(gateway: Gateway, provider: FakeProvider) -> None:
    response = chat(gateway, model="broken", num_retries=40)
    assert response.status_code >= 500
    assert provider.stats()["hits"].get("gpt-fail-500", 0) <= 3  # 1 + MAX_NUM_RETRIES (2)


def test_client_litellm_headers_do_not_steer(gateway: Gateway, provider: FakeProvider) -> None:
    response = gateway.client.post("/v1/chat/completions", json={"model": "broken", "messages": CHAT},
                                   headers=gateway.auth(**{"x-litellm-num-retries": "30"}))
    assert response.status_code >= 500
    assert provider.stats()["hits"].get("gpt-fail-500", 0) <= 2  # the config's own num_retries: 1


def test_trailing_slash_never_shows_an_internal_origin(gateway: Gateway) -> None:
    response = gateway.client.get("/v1/models/", headers=gateway.auth(**{"x-forwarded-proto": "https"}))
    assert response.status_code == 200, response.text
    assert "container" not in json.dumps(dict(response.headers)) and "location" not in response.headers
    assert any(model["id"] == "gpt-4o" for model in response.json()["data"])


# -- the same gateway fronting the fake provider directly (upstream mode): it records what arrives --------

@pytest.fixture(scope="module")
def fronting(fake: FakeProvider | None) -> Iterator[Gateway]:
    if fake is None or fake.url is None:
        pytest.skip("needs a local fake provider")
    gateway = start_gateway(key=E2E_KEY, litellm_config=None, containers=False,
                            env={"LITELLM_UPSTREAM_URL": fake.url})
    yield gateway
    gateway.stop()


def last_chat(provider: FakeProvider) -> dict:
    """The last chat the fake got. (Fronting it directly, the gateway also asks it for LiteLLM's model info
    to price a booking, after the answer: that may come last.)"""
    return [seen for seen in provider.stats()["requests"] if seen["path"] == "/v1/chat/completions"][-1]


@pytest.mark.local_only
def test_caller_address_comes_from_the_socket_not_the_client(fronting: Gateway, provider: FakeProvider) -> None:
    spoofed = {"x-forwarded-for": "6.6.6.6", "x-real-ip": "6.6.6.6", "forwarded": "for=6.6.6.6",
               "true-client-ip": "6.6.6.6", "cf-connecting-ip": "6.6.6.6", "x-litellm-timeout": "99999"}
    response = fronting.client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": CHAT},
                                    headers=fronting.auth(**spoofed))
    assert response.status_code == 200, response.text
    seen = last_chat(provider)
    assert seen["forwarded_for"] == "127.0.0.1"
    assert not {"x-real-ip", "forwarded", "true-client-ip", "x-litellm-timeout"} & set(seen["header_names"])


@pytest.mark.local_only
def test_same_bytes_are_forwarded_unless_a_cap_applies(fronting: Gateway, provider: FakeProvider) -> None:
    body = b'{"model":"gpt-4o",  "messages":[{"role":"user","content":"same bytes"}], "timeout": 30}'
    response = fronting.client.post("/v1/chat/completions", content=body,
                                    headers=fronting.auth(**{"content-type": "application/json"}))
    assert response.status_code == 200
    assert last_chat(provider)["body_sha256"] == hashlib.sha256(body).hexdigest()
    capped = fronting.client.post("/v1/chat/completions", headers=fronting.auth(),
                                  json={"model": "gpt-4o", "messages": CHAT, "timeout": 99999})
    assert capped.status_code == 200
    assert last_chat(provider)["body_bytes"] != len(body)


# -- deadlines and disconnects: a gateway with short bounds ---------------------------------------------

DEADLINE_S = 4
IDLE_S = 2


@pytest.fixture(scope="module")
def bounded(fake: FakeProvider | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if fake is None or fake.url is None:
        pytest.skip("needs a local fake provider")
    config = yaml.safe_load(render_test_config(fake.url))
    base = fake.url.rstrip("/") + "/v1"
    for name, upstream in (("silent-stream", "gpt-chunks3-delay5000"), ("long-stream", "gpt-chunks40-delay250"),
                           ("hang-long", "gpt-hang")):
        config["model_list"].append({"model_name": name, "litellm_params": {
            "model": f"openai/{upstream}", "api_base": base, "api_key": "sk-fake-upstream", "timeout": 600}})
    path = tmp_path_factory.mktemp("bounded") / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    gateway = launch(path, env={"MAX_REQUEST_SECONDS": str(DEADLINE_S), "STREAM_IDLE_SECONDS": str(IDLE_S)})
    assert gateway.chat("gpt-4o-mini", "warm").status_code == 200
    yield gateway
    gateway.stop()


def inflight(gateway: Gateway) -> int:
    return int(gateway.health()["container"]["inflight"])


def stream_lines(gateway: Gateway, model: str, read_lines: int | None = None) -> list[str]:
    lines: list[str] = []
    body = {"model": model, "messages": CHAT, "stream": True}
    with gateway.client.stream("POST", "/v1/chat/completions", json=body, headers=gateway.auth()) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line:
                lines.append(line)
            if read_lines is not None and len(lines) >= read_lines:
                break
    return lines


@pytest.mark.local_only
def test_hung_provider_with_a_huge_timeout_ends_at_the_deadline(bounded: Gateway) -> None:
    started = time.monotonic()
    response = chat(bounded, model="hang-long", timeout=99999)
    took = time.monotonic() - started
    assert response.status_code in (504, 408, 500), response.text
    assert took < DEADLINE_S + 3, took
    wait_for(lambda: inflight(bounded) == 0, 5)


@pytest.mark.local_only
def test_client_gone_before_headers_is_released_by_the_deadline(bounded: Gateway) -> None:
    """workerd cannot tell that a client left before response headers: the deadline bounds it."""
    with pytest.raises(httpx.ReadTimeout):
        bounded.client.post("/v1/chat/completions", json={"model": "hang-long", "messages": CHAT},
                            headers=bounded.auth(), timeout=httpx.Timeout(0.5, connect=2))
    assert inflight(bounded) == 1
    wait_for(lambda: inflight(bounded) == 0, DEADLINE_S + 3)


@pytest.mark.local_only
def test_client_gone_mid_stream_releases_in_flight(bounded: Gateway) -> None:
    assert len(stream_lines(bounded, "long-stream", read_lines=2)) == 2
    wait_for(lambda: inflight(bounded) == 0, 3)


@pytest.mark.local_only
def test_silent_stream_ends_with_an_error_event(bounded: Gateway) -> None:
    started = time.monotonic()
    lines = stream_lines(bounded, "silent-stream")
    assert time.monotonic() - started < DEADLINE_S + 2
    last = json.loads(lines[-1].removeprefix("data: "))
    assert last["error"]["code"] == "stream_interrupted", lines
    wait_for(lambda: inflight(bounded) == 0, 3)


@pytest.mark.local_only
def test_stream_past_the_deadline_ends_cleanly_with_an_error_event(bounded: Gateway) -> None:
    lines = stream_lines(bounded, "long-stream")
    assert json.loads(lines[-1].removeprefix("data: "))["error"]["code"] == "stream_interrupted"
    assert any('"delta"' in line for line in lines[:-1])
    wait_for(lambda: inflight(bounded) == 0, 3)


@pytest.mark.local_only
def test_container_crash_mid_stream_ends_with_an_error_event(bounded: Gateway) -> None:
    body = {"model": "long-stream", "messages": CHAT, "stream": True}
    lines: list[str] = []
    with bounded.client.stream("POST", "/v1/chat/completions", json=body, headers=bounded.auth()) as response:
        for line in response.iter_lines():
            if line:
                lines.append(line)
            if len(lines) == 2:
                for container in bounded.running():
                    bounded.kill_container(container["id"])
    last = json.loads(lines[-1].removeprefix("data: "))
    assert last["error"]["code"] == "stream_interrupted", lines[-3:]
    wait_for(lambda: inflight(bounded) == 0, 5)


def test_litellm_errors_say_nothing_internal(gateway: Gateway) -> None:
    response = chat(gateway, model="broken")
    text = response.text
    assert response.status_code >= 500
    assert "127.0.0.1" not in text and " at 0x" not in text and "http://" not in text



def test_an_oversized_streamed_upload_is_aborted_not_sent_truncated(gateway: Gateway, provider: FakeProvider) -> None:
    """workerd finishes an upload whose body stream errors (truncated, and LiteLLM answers it): the gateway
    must abort the fetch itself. Multipart is the path that still streams the body through the gateway."""

    response = gateway.client.post("/v1/audio/transcriptions", content=oversized_multipart(),
                                   headers=gateway.auth(**{"content-type": OVERSIZED_MULTIPART_TYPE}))
    assert response.status_code == 413, response.text[:300]
    assert openai_error(response)["code"] == "request_too_large"
    assert provider.stats()["total"] == 0
