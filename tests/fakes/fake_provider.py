"""Fake LLM provider on loopback: the only fake in the project (LiteLLM itself is always the real one).

Run: ``python -m tests.fakes.fake_provider --port 0`` (from the repo root); it prints exactly one line,
``FAKE_PROVIDER_LISTENING <port>``, once it accepts connections.

Speaks OpenAI (``/v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings``, ``/v1/models``) and
Anthropic (``/v1/messages``). A repeated ``/v1`` prefix is tolerated (``/v1/v1/messages``, ``/chat/...``).
Every answer echoes the last user message as ``"echo: <content>"``; streams split that text over
``--chunks`` pieces. Behaviour comes from the upstream model name (see ``behaviours.behaviour_for``):
``fail-500``, ``fail-429`` (Retry-After: 7), ``slow`` / ``slow<ms>``, ``hang``, ``cut`` (stream: two text
chunks, then the connection is dropped), ``delay<ms>`` (pause between chunks), ``chunks<n>``.

Every SSE JSON object carries ``"x_sent_at": <epoch float>``, the wall-clock time the fake wrote it.
What survives LiteLLM 1.108.7 (measured; pinned by test_litellm_against_fake.py):
  * ``/v1/chat/completions`` on ``openai/``: KEPT as a top-level field of every content chunk and of the
    finish chunk (not of the usage chunk, which LiteLLM builds itself) -> per-chunk forwarding delay.
  * ``/v1/messages`` on ``anthropic/``: KEPT in every event (real SSE with ``event:`` lines is relayed).
  * ``/v1/chat/completions`` on ``anthropic/`` and ``/v1/completions`` streams: DROPPED (chunks rebuilt);
    there only arrival times are usable (the fake's spacing is known from ``delay<ms>``).

Inspection: ``GET /_fake/stats`` -> ``{"hits": {model: n}, "total": n, "requests": [last 200 entries]}``
(entry fields in ``behaviours.Stats.record``, plus ``max_tokens``: the output cap the request carried, or
None); ``POST /_fake/reset`` clears everything. The fake never honours that cap (its answer is the echo).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import uvicorn

from . import anthropic_api, openai_api
from .behaviours import Behaviour, Options, Stats, behaviour_for, pause_ms, wait_for_disconnect

Handler = Callable[["Call"], Awaitable[None]]
MarkerOf = Callable[[dict[str, Any]], str]
ErrorBody = Callable[[int, str], dict[str, Any]]

ROUTES: dict[str, tuple[Handler, MarkerOf]] = {
    "/chat/completions": (openai_api.chat_completions, openai_api.chat_marker),
    "/completions": (openai_api.completions, openai_api.completion_marker),
    "/embeddings": (openai_api.embeddings, openai_api.embedding_marker),
    "/messages": (anthropic_api.messages, anthropic_api.messages_marker),
}
RETRY_AFTER_SECONDS = "7"
OUTPUT_CAP_NAMES = ("max_tokens", "max_completion_tokens", "max_output_tokens")
_CUT_LOG_LINE = "ASGI callable returned without completing response."
_JSON = [(b"content-type", b"application/json")]
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


@dataclass
class Call:
    """One provider request: parsed body, behaviour, and helpers that write the answer with raw ASGI."""

    send: Any
    receive: Any
    stats: Stats
    body: dict[str, Any]
    model: str
    marker: str
    stream: bool
    behaviour: Behaviour
    entry: dict[str, Any]  # this request's live stats entry (the status is filled in when answered)

    async def apply_common_behaviour(self, error_body: ErrorBody) -> bool:
        """Slow, hang and injected errors, shared by every endpoint; True when the request is answered."""
        await pause_ms(self.behaviour.slow_ms)
        if self.behaviour.hang:
            self.entry["status"] = "hang"
            await wait_for_disconnect(self.receive)
            return True
        if self.behaviour.fail_500:
            await self.json(500, error_body(500, "fake provider: injected failure (fail-500)"))
            return True
        if self.behaviour.fail_429:
            body = error_body(429, "fake provider: rate limit reached (fail-429)")
            await self.json(429, body, [(b"retry-after", RETRY_AFTER_SECONDS.encode())])
            return True
        return False

    async def json(self, status: int, obj: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.entry["status"] = status
        await _send_json(self.send, status, obj, headers)

    async def start_sse(self) -> None:
        self.entry["status"] = 200
        await self.send({"type": "http.response.start", "status": 200, "headers": _SSE})

    async def sse(self, obj: dict[str, Any], event: str | None = None) -> None:
        obj["x_sent_at"] = time.time()
        head = f"event: {event}\n".encode() if event else b""
        await self.send(
            {
                "type": "http.response.body",
                "body": head + b"data: " + _dumps(obj) + b"\n\n",
                "more_body": True,
            }
        )

    async def sse_done(self) -> None:
        await self.send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})

    async def finish(self) -> None:
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})

    async def abort(self) -> None:
        """Drop the connection mid-stream: returning without the final body makes uvicorn close it."""
        self.entry["status"] = "cut"


async def _send_json(send: Any, status: int, obj: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = _dumps(obj)
    all_headers = [*_JSON, (b"content-length", str(len(payload)).encode()), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _route_key(path: str) -> str:
    # Tolerate base-URL mistakes (``/v1/v1/messages``, no ``/v1``) so a wrong api_base still shows up in
    # stats with its real path instead of as an opaque 404.
    while path.startswith("/v1/"):
        path = path[3:]
    return path.rstrip("/") or "/"


class FakeProviderApp:
    """The ASGI application: a plain dict router, because Starlette's routing is not needed here."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.stats = Stats()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return  # lifespan is disabled; nothing else is served
        path, method = scope["path"], scope["method"]
        raw = await _read_body(receive)
        if path.startswith("/_fake/"):
            await self._control(path, method, send)
            return
        key = _route_key(path)
        if key == "/models" and method == "GET":
            entry = self.stats.record(path, "", raw, "", _headers(scope), False)
            behaviour = behaviour_for("", self.options)
            await openai_api.list_models(Call(send, receive, self.stats, {}, "", "", False, behaviour, entry))
            return
        try:
            body = json.loads(raw) if raw else {}
            if not isinstance(body, dict):
                raise ValueError("JSON body must be an object")
        except ValueError as exc:
            await _send_json(send, 400, openai_api.error_body(400, f"fake provider: bad JSON body: {exc}"))
            return
        model = str(body.get("model") or "")
        route = ROUTES.get(key) if method == "POST" else None
        marker = route[1](body) if route else ""
        stream = bool(body.get("stream"))
        entry = self.stats.record(path, model, raw, marker, _headers(scope), stream)
        # The output cap asked for, whichever API's name it has (the gateway writes one for limited keys).
        entry["max_tokens"] = next((body[name] for name in OUTPUT_CAP_NAMES if body.get(name) is not None), None)
        if route is None:
            entry["status"] = 404
            await _send_json(send, 404, openai_api.error_body(404, f"fake provider: no route {method} {path}"))
            return
        behaviour = behaviour_for(model, self.options)
        await route[0](Call(send, receive, self.stats, body, model, marker, stream, behaviour, entry))

    async def _control(self, path: str, method: str, send: Any) -> None:
        if path == "/_fake/stats" and method == "GET":
            await _send_json(send, 200, self.stats.snapshot())
        elif path == "/_fake/reset" and method == "POST":
            self.stats.reset()
            await _send_json(send, 200, {"ok": True})
        elif path == "/_fake/health":
            await _send_json(send, 200, {"ok": True})
        else:
            await _send_json(send, 404, {"error": f"no control route {method} {path}"})


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


class _DropIntentionalCut(logging.Filter):
    """A ``cut`` stream ends by returning mid-response on purpose; that is not an error worth logging."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _CUT_LOG_LINE


class _FastExitServer(uvicorn.Server):
    """Exit on the first SIGTERM/SIGINT without draining: a `hang` request would otherwise hold shutdown."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.force_exit = True


def _http_impl() -> str:
    try:
        import httptools  # noqa: F401  (optional; h11 is the pure-Python fallback)
    except ImportError:
        return "h11"
    return "httptools"


async def serve(options: Options, host: str, port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(
        FakeProviderApp(options),
        http=_http_impl(),
        lifespan="off",
        access_log=False,
        log_level="warning",
        # Longer than any client pool's idle time, so the fake never closes a connection LiteLLM is about
        # to reuse (that race shows up as spurious "Server disconnected" errors).
        timeout_keep_alive=120,
    )
    logging.getLogger("uvicorn.error").addFilter(_DropIntentionalCut())
    server = _FastExitServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task  # re-raise the startup failure
            return
        await asyncio.sleep(0.005)
    print(f"FAKE_PROVIDER_LISTENING {sock.getsockname()[1]}", flush=True)
    await task


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="bind address (keep it loopback)")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--slow-ms", type=int, default=2000, help="pause for models containing 'slow'")
    parser.add_argument("--chunk-delay-ms", type=int, default=0, help="pause between stream chunks")
    parser.add_argument("--chunks", type=int, default=5, help="stream chunks the echo text is split into")
    args = parser.parse_args(argv)
    options = Options(slow_ms=args.slow_ms, chunk_delay_ms=args.chunk_delay_ms, chunks=args.chunks)
    try:
        import uvloop
    except ImportError:
        runner = asyncio.Runner()
    else:
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    with runner, contextlib.suppress(KeyboardInterrupt):
        runner.run(serve(options, args.host, args.port))


if __name__ == "__main__":
    main()
