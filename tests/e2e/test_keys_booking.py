"""What was served is what is booked ("Keys that hold" §2), for a virtual key and for the master key.

A client that closes the stream on `finish_reason` has had the whole answer, but OpenAI's usage chunk comes
after the finish chunk (LiteLLM 1.108.7 sends it 6-12 ms later): the gateway reads on for it after the client
has left. A client that leaves mid-generation stops the upstream and is booked an estimate from what went by
(metering.usage.estimate: the request's bytes / 4, the generated text's bytes / 4).

Two gateways: the suite's, with the real LiteLLM (whose 6-12 ms gap races the client's close), and one
fronting a scripted stand-in for LiteLLM (LITELLM_UPSTREAM_URL) whose usage chunk comes USAGE_LAG_S after the
finish chunk, and which notes whether the gateway was still reading then and when it stopped.
"""

from __future__ import annotations

import json
import math
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from keys.material import token_of
from keys.ops import MASTER
from tests.e2e.assertions import openai_error
from tests.e2e.keys_admin import KeyAdmin, bearer, chat_body, known_usage
from tests.fakes.behaviours import ECHO_PREFIX, count_tokens, split_text
from tests.harness import Gateway, start_gateway, wait_for

PRICE = (2.5e-6, 1e-5)  # $ a prompt token, a completion token: LiteLLM's for gpt-4o, the stand-in's for its models
FRAMING_TOKENS = 25 + 8  # the estimate's excess for one message: the JSON around the text (metering.usage.estimate)
USAGE_LAG_S = 1.0  # the stand-in's pause between the finish chunk and the usage chunk
CHUNK_GAP_S = 0.3  # between the content chunks of a slow model (the suite's `slow-stream` too)


class StandIn(BaseHTTPRequestHandler):
    """LiteLLM as the gateway sees it: /v1/model/info with prices, and chat streams echoing the prompt in 5
    chunks (CHUNK_GAP_S apart for "-slow" models) then, USAGE_LAG_S after the finish chunk, the usage chunk."""

    notes: ClassVar[dict[str, dict[str, Any]]] = {}  # by prompt: what the stand-in saw of the gateway

    def log_message(self, *args: object) -> None:  # quiet: the test reads `notes`
        pass

    def do_GET(self) -> None:
        info = [{"model_name": name, "model_info": {"input_cost_per_token": PRICE[0],
                                                    "output_cost_per_token": PRICE[1]}} for name in MODELS]
        self.answer("application/json", json.dumps({"data": info}).encode())

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["content-length"])))
        prompt = request["messages"][-1]["content"]
        note = self.notes.setdefault(prompt, {})
        self.answer("text/event-stream", b"")
        gap = CHUNK_GAP_S if request["model"].endswith("-slow") else 0.0
        for index, piece in enumerate(split_text(ECHO_PREFIX + prompt, 5)):
            time.sleep(gap if index else 0)
            if self.gone() or not self.event({"index": 0, "delta": {"content": piece}, "finish_reason": None}):
                note["stopped_before_chunk"] = index
                return
        self.event({"index": 0, "delta": {}, "finish_reason": "stop"})
        time.sleep(USAGE_LAG_S)
        note["gone_before_usage"] = self.gone()
        usage = {"prompt_tokens": count_tokens(prompt), "completion_tokens": count_tokens(ECHO_PREFIX + prompt)}
        if self.event(None, usage):
            self.wfile.write(b"data: [DONE]\n\n")

    def answer(self, content_type: str, body: bytes) -> None:
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.end_headers()  # HTTP/1.0: the body ends when the connection closes
        self.wfile.write(body)

    def event(self, choice: dict | None, usage: dict | None = None) -> bool:
        """Whether the chunk could be written (a reset connection refuses it: the gateway has gone)."""
        chunk = {"id": "c", "object": "chat.completion.chunk", "choices": [choice] if choice else [], "usage": usage}
        try:
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self.wfile.flush()
        except OSError:
            return False
        return True

    def gone(self) -> bool:
        """The gateway closed its connection (EOF or reset waiting): it stopped reading this answer."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


MODELS = ("scripted", "scripted-slow")


@dataclass
class Setup:
    admin: KeyAdmin
    fast: str  # a priced model (PRICE)
    slow: str  # content chunks CHUNK_GAP_S apart
    notes: dict[str, dict[str, Any]] | None  # the stand-in's, when it is the upstream
    uncaught_before: int | None = None  # the gateway's uncaught errors when this module began (local only)

    def __post_init__(self) -> None:
        if self.admin.gateway.local:
            self.uncaught_before = self.admin.gateway.uncaught()["count"]


@pytest.fixture(scope="module")
def stand_in() -> Iterator[Setup]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    gateway = start_gateway(key="sk-booking-master-key", litellm_config=None, containers=False,
                            env={"LITELLM_UPSTREAM_URL": f"http://127.0.0.1:{server.server_port}",
                                 "LITELLM_UPSTREAM_KEY": "sk-stand-in"})
    try:
        yield Setup(KeyAdmin(gateway), "scripted", "scripted-slow", StandIn.notes)
    finally:
        gateway.stop()
        server.shutdown()


@pytest.fixture(scope="module")
def litellm(gateway: Gateway) -> Setup:
    return Setup(KeyAdmin(gateway), "gpt-4o", "slow-stream", None)


@pytest.fixture(params=["litellm", pytest.param("stand_in", marks=pytest.mark.local_only)])
def setup(request: pytest.FixtureRequest) -> Setup:
    return request.getfixturevalue(request.param)


class Payer:
    """A fresh virtual key, or the master key; `booked()` is what its ledger gained since it was made."""

    def __init__(self, admin: KeyAdmin, master: bool, **fields: Any) -> None:
        self.admin = admin
        self.key = admin.gateway.key if master else admin.generate(**fields)
        self.token = MASTER if master else token_of(self.key)
        self.before = admin.ledger(self.token)

    def booked(self) -> dict[str, Any]:
        after = self.admin.wait_booked(self.token, self.before["requests"] + 1)
        return {name: after[name] - self.before[name] for name in
                ("requests", "failed_requests", "prompt_tokens", "completion_tokens", "spend")}


def stream_until(admin: KeyAdmin, path: str, body: dict, headers: dict[str, str],
                 enough: Callable[[dict], bool]) -> list[dict]:
    """Streams `body` and closes the connection as soon as an event is `enough`: the events read by then."""
    seen: list[dict] = []
    with admin.client.stream("POST", path, json={**body, "stream": True}, headers=headers) as answer:
        assert answer.status_code == 200, answer.read()
        for line in answer.iter_lines():
            if line.startswith("data:") and line[5:].strip() != "[DONE]":
                seen.append(json.loads(line[5:]))
                if enough(seen[-1]):
                    return seen  # leaving the block closes the connection mid-body
    raise AssertionError(f"the stream ended before the client meant to leave: {seen}")


def finished(event: dict) -> bool:
    return any(choice.get("finish_reason") for choice in event.get("choices", []))


@pytest.mark.parametrize("master", [False, True], ids=["virtual_key", "master_key"])
def test_closing_on_finish_reason_books_the_real_tokens_and_cost(setup: Setup, master: bool) -> None:
    payer = Payer(setup.admin, master)
    content = f"finish-{master}-{time.monotonic_ns()}-" + "f" * 400
    events = stream_until(setup.admin, "/v1/chat/completions", chat_body(content, setup.fast), bearer(payer.key),
                          finished)
    text = "".join(choice["delta"].get("content") or "" for event in events for choice in event["choices"])
    assert text.endswith(content)  # the whole answer, without its usage chunk
    prompt, completion = known_usage(content)
    booked = payer.booked()
    assert (booked["requests"], booked["prompt_tokens"], booked["completion_tokens"]) == (1, prompt, completion)
    assert booked["spend"] == pytest.approx(prompt * PRICE[0] + completion * PRICE[1])
    if setup.notes is not None:  # the upstream was still read USAGE_LAG_S after the client had left
        assert setup.notes[content]["gone_before_usage"] is False


def test_a_tpm_limited_key_is_refused_after_answers_closed_on_finish_reason(setup: Setup) -> None:
    content = f"tpm-finish-{time.monotonic_ns()}-" + "t" * 200
    payer = Payer(setup.admin, master=False, tpm_limit=sum(known_usage(content)))
    stream_until(setup.admin, "/v1/chat/completions", chat_body(content, setup.fast), bearer(payer.key), finished)
    payer.booked()
    refused = setup.admin.chat(payer.key, content, setup.fast)
    assert refused.status_code == 429, refused.text
    assert (openai_error(refused)["code"], refused.headers["x-ratelimit-remaining-tokens"]) == (
        "rate_limit_exceeded", "0")


@pytest.mark.parametrize(("path", "end"), [
    ("/v1/responses", "response.output_item.done"),  # LiteLLM sends response.completed ~5 ms later
    ("/v1/messages", "message_delta"),  # carries the output count itself
], ids=["responses", "messages"])
def test_closing_on_the_end_event_books_the_real_tokens(gateway: Gateway, path: str, end: str) -> None:
    admin = KeyAdmin(gateway)
    payer = Payer(admin, master=False)
    content = f"end-{end}-" + "e" * 300
    body: dict[str, Any] = {"model": "claude-3-5-sonnet", "input": content} if path == "/v1/responses" else {
        "model": "claude-3-5-sonnet", "max_tokens": 64, "messages": [{"role": "user", "content": content}]}
    stream_until(admin, path, body, {"x-api-key": payer.key}, lambda event: event.get("type") == end)
    booked = payer.booked()
    assert (booked["prompt_tokens"], booked["completion_tokens"]) == known_usage(content)


@pytest.mark.parametrize("master", [False, True], ids=["virtual_key", "master_key"])
def test_leaving_mid_generation_books_an_estimate_of_what_went_by(setup: Setup, master: bool) -> None:
    """5 content chunks CHUNK_GAP_S apart; the client leaves once it has 2, and the upstream is stopped."""
    payer = Payer(setup.admin, master)
    content = f"leaver-{master}-{time.monotonic_ns()}-" + "m" * 400
    pieces: list[str] = []

    def two_pieces(event: dict) -> bool:
        pieces.extend(choice["delta"]["content"] for choice in event["choices"] if choice["delta"].get("content"))
        return len(pieces) >= 2

    stream_until(setup.admin, "/v1/chat/completions", chat_body(content, setup.slow), bearer(payer.key), two_pieces)
    booked = payer.booked()
    prompt, completion = known_usage(content)
    assert booked["requests"] == 1 and booked["failed_requests"] == 0
    assert prompt < booked["prompt_tokens"] <= prompt + FRAMING_TOKENS  # the body's bytes / 4: its text and JSON
    received = len("".join(pieces).encode())
    piece = math.ceil(len(ECHO_PREFIX + content) / 5)  # one more chunk may have passed the gateway as it left
    assert math.ceil(received / 4) <= booked["completion_tokens"] <= math.ceil((received + piece) / 4)
    assert booked["completion_tokens"] < completion  # what went by, not the whole answer
    if setup.notes is not None:  # the upstream was stopped with the client: no chunk after the next one
        note = setup.notes[content]
        wait_for(lambda: "stopped_before_chunk" in note or "gone_before_usage" in note, 5 * CHUNK_GAP_S + 2)
        assert note.get("stopped_before_chunk", 5) <= len(pieces) + 1, note


@pytest.mark.local_only
def test_leaving_clients_leave_no_uncaught_errors(setup: Setup) -> None:
    """Run after the cases above on the same gateways: reading on and stopping the upstream logs nothing."""
    assert setup.admin.gateway.uncaught()["count"] == setup.uncaught_before, setup.admin.gateway.uncaught()
