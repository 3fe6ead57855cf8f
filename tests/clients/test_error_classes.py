"""Each SDK raises the exception class of the status for the gateway's own 401 and 403, as it does for
OpenAI's, Anthropic's and LiteLLM proxy's: the OpenAI SDK, the Anthropic SDK and litellm's SDK (which DSPy
and others call), whose exception mapping reads the error's text before its status."""

from __future__ import annotations

import importlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.harness import Gateway

OPENAI_MODEL = "gpt-4o"  # both are served; the narrow key may use neither
ANTHROPIC_MODEL = "claude-3-5-sonnet"
WRONG_KEY = "sk-never-issued-000000000000"
# The upstreams' own 401 and 403, by the key asked with: OpenAI's and Anthropic's (their API references,
# "Errors"), and LiteLLM proxy's (its ProxyException for a bad key and for a model the key may not use).
REFERENCE_ERRORS: dict[str, tuple[int, dict[str, Any]]] = {
    "openai-401": (401, {"error": {
        "message": "Incorrect API key provided: sk-abc***xyz.", "type": "invalid_request_error", "param": None,
        "code": "invalid_api_key"}}),
    "openai-403": (403, {"error": {
        "message": "Country, region, or territory not supported", "type": "request_forbidden", "param": None,
        "code": "unsupported_country_region_territory"}}),
    "anthropic-401": (401, {"type": "error", "error": {
        "type": "authentication_error", "message": "invalid x-api-key"}}),
    "anthropic-403": (403, {"type": "error", "error": {
        "type": "permission_error",
        "message": "Your API key does not have permission to use the specified resource."}}),
    "litellm_proxy-401": (401, {"error": {
        "message": "Authentication Error, Invalid proxy server token passed.", "type": "auth_error", "param": "None",
        "code": "401"}}),
    "litellm_proxy-403": (403, {"error": {
        "message": "key not allowed to access model. Tried to access gpt-4o", "type": "key_model_access_denied",
        "param": "model", "code": "403"}}),
}


@dataclass(frozen=True)
class Refusal:
    key: str
    status: int


@pytest.fixture(scope="module")
def keys(sdk_gateway: Gateway) -> dict[str, Refusal]:
    """A key for each refusal: unknown (401 invalid_api_key), blocked (401 key_blocked), and one asking for a
    model outside its `models` (403 model_not_allowed)."""
    admin = httpx.Client(base_url=sdk_gateway.url, headers=sdk_gateway.auth(), timeout=30)

    def generate(**fields: Any) -> str:
        answer = admin.post("/key/generate", json=fields)
        assert answer.status_code == 200, answer.text
        return answer.json()["key"]

    blocked = generate()
    assert admin.post("/key/block", json={"key": blocked}).status_code == 200
    return {"invalid_api_key": Refusal(WRONG_KEY, 401), "key_blocked": Refusal(blocked, 401),
            "model_not_allowed": Refusal(generate(models=["gpt-4o-mini"]), 403)}


@pytest.fixture(scope="module")
def litellm_sdk() -> ModuleType:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # read before import: no price-map download
    sdk = importlib.import_module("litellm")
    sdk.suppress_debug_info = True
    return sdk


@pytest.fixture(scope="module")
def reference() -> Iterator[str]:
    """A stand-in upstream on loopback answering REFERENCE_ERRORS, to learn which class litellm raises for each."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            key = self.headers.get("x-api-key") or self.headers.get("authorization", "").removeprefix("Bearer ")
            status, body = REFERENCE_ERRORS[key]
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


CODES = ["invalid_api_key", "key_blocked", "model_not_allowed"]


@pytest.mark.parametrize("code", CODES)
def test_openai_sdk(sdk_gateway: Gateway, keys: dict[str, Refusal], code: str) -> None:
    refusal = keys[code]
    expected = {401: openai.AuthenticationError, 403: openai.PermissionDeniedError}[refusal.status]
    client = openai.OpenAI(base_url=f"{sdk_gateway.url}/v1", api_key=refusal.key, max_retries=0)
    with pytest.raises(expected) as raised:
        client.chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": "x"}])
    assert raised.value.code == code


@pytest.mark.parametrize("code", CODES)
def test_anthropic_sdk(sdk_gateway: Gateway, keys: dict[str, Refusal], code: str) -> None:
    refusal = keys[code]
    expected = {401: anthropic.AuthenticationError, 403: anthropic.PermissionDeniedError}[refusal.status]
    client = anthropic.Anthropic(base_url=sdk_gateway.url, api_key=refusal.key, max_retries=0)
    with pytest.raises(expected):
        client.messages.create(model=ANTHROPIC_MODEL, max_tokens=8, messages=[{"role": "user", "content": "x"}])


def first_error(call: Callable[[], object]) -> tuple[type[Exception], int | None]:
    try:
        call()
    except Exception as exc:  # the class is what is compared
        return type(exc), getattr(exc, "status_code", None)
    raise AssertionError("no error raised")


# How litellm is called through the gateway: (provider/model, the path its api_base ends in, the API, whose
# own errors REFERENCE_ERRORS compares with). Its Responses API and its `hosted_vllm/` provider put the whole
# error body into the text that its exception mapping reads.
LITELLM_CALLS = {
    "openai-completion": (f"openai/{OPENAI_MODEL}", "/v1", "completion", "openai"),  # as dspy.LM("openai/...")
    "openai-responses": (f"openai/{OPENAI_MODEL}", "/v1", "responses", "openai"),
    "litellm_proxy-completion": (f"litellm_proxy/{OPENAI_MODEL}", "/v1", "completion", "litellm_proxy"),
    "litellm_proxy-responses": (f"litellm_proxy/{OPENAI_MODEL}", "/v1", "responses", "litellm_proxy"),
    "hosted_vllm-completion": (f"hosted_vllm/{OPENAI_MODEL}", "/v1", "completion", "openai"),
    "anthropic-completion": (f"anthropic/{ANTHROPIC_MODEL}", "", "completion", "anthropic"),  # /v1/messages
}


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("how", LITELLM_CALLS)
def test_litellm_sdk(sdk_gateway: Gateway, keys: dict[str, Refusal], litellm_sdk: ModuleType, reference: str,
                     code: str, how: str) -> None:
    """The class litellm raises for the upstream's own error of that status, never BadRequestError: for a 401
    AuthenticationError; for a 403 PermissionDeniedError in Anthropic's format, and in OpenAI's a plain
    APIError of status 403 (litellm maps no 403 there, OpenAI's own included)."""
    refusal = keys[code]
    model, route, api, upstream = LITELLM_CALLS[how]

    def ask(base: str, key: str) -> tuple[type[Exception], int | None]:
        common: dict[str, Any] = {"model": model, "api_base": base + route, "api_key": key, "num_retries": 0,
                                  "max_retries": 0}
        if api == "responses":
            return first_error(lambda: litellm_sdk.responses(input="x", **common))
        return first_error(lambda: litellm_sdk.completion(messages=[{"role": "user", "content": "x"}],
                                                          max_tokens=8, **common))

    raised = ask(sdk_gateway.url, refusal.key)
    assert raised == ask(reference, f"{upstream}-{refusal.status}") == (raised[0], refusal.status)
    assert raised[0] is not litellm_sdk.BadRequestError
    if refusal.status == 401 or upstream == "anthropic":
        expected = {401: litellm_sdk.AuthenticationError, 403: litellm_sdk.PermissionDeniedError}[refusal.status]
        assert raised[0] is expected
