"""Scenarios for streams.relay, run inside Pyodide by relay_in_pyodide.mjs (never by CPython: it needs `js`).

Each prints one JSON line: when the upstream was cancelled and on_end ran (ms after the client left, or after
the stream began when no client leaves), what on_end was told and what the observer would book.
"""

import asyncio
import json
import time

import js

from bridge.streams import relay
from metering.usage import SseUsage

READ_ON_S = 1.0
USAGE = {"choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 9}}


def sse(message: object) -> str:
    return f"data: {json.dumps(message)}\n\n"


def chunk(content: str | None = None, finish: str | None = None) -> str:
    delta = {} if content is None else {"content": content}
    return sse({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}], "usage": None})


async def scenario(name: str, before_leaving: list[str], after_leaving: list[str], leaves: bool = True,
                   after_s: float = 0.1, ending: str = "close") -> None:
    upstream = js.makeUpstream()
    observer = SseUsage(strip_added_usage=True)
    ended: list[tuple[bool, float]] = []
    started = js.performance.now()

    def on_end(failed: bool) -> bytes | None:
        ended.append((failed, js.performance.now()))
        return b"data: closing\n\n" if failed else None

    client = relay(upstream.stream, None, on_end, observer, READ_ON_S).getReader()
    for text in before_leaving:
        upstream.push(text)
    received = b""
    while received.count(b"\n\n") < len(before_leaving) - (before_leaving[-1:] == [sse(USAGE)]):
        step = await client.read()
        received += step.value.to_bytes()
    if leaves:
        await client.cancel(js.Error.new("client disconnected"))
        started = js.performance.now()
    await asyncio.sleep(after_s)
    waited_for_usage = upstream.state.cancelledAt < 0
    for text in after_leaving:
        upstream.push(text)
    if ending == "close":
        upstream.close()
    elif ending == "fail":
        upstream.fail()
    tail = b""
    if not leaves:
        while not (step := await client.read()).done:
            tail += step.value.to_bytes()
    deadline = time.monotonic() + READ_ON_S + 2
    while not ended and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    cancelled = upstream.state.cancelledAt
    served = observer.served(401)
    print(json.dumps({
        "name": name,
        "waited_for_usage": waited_for_usage,
        "cancelled_ms": None if cancelled < 0 else round(cancelled - started),
        "ended": None if not ended else [ended[0][0], round(ended[0][1] - started)],
        "served": None if served is None else [served.prompt_tokens, served.completion_tokens, served.estimated],
        "tail": tail.decode()[-40:],
    }))


async def interleaved() -> None:
    """Two relays in flight at once, their chunks alternating: each observer sees its own stream only."""
    upstreams = [js.makeUpstream(), js.makeUpstream()]
    observers = [SseUsage(), SseUsage()]
    clients = [relay(up.stream, None, lambda failed: None, obs, READ_ON_S).getReader()
               for up, obs in zip(upstreams, observers, strict=True)]
    usages = [{"choices": [], "usage": {"prompt_tokens": 10 + n, "completion_tokens": 20 + n}} for n in (0, 1)]
    for step in range(3):
        for n, up in enumerate(upstreams):
            up.push(chunk(f"s{n}-{step}"))
    for n, up in enumerate(upstreams):
        up.push(chunk(finish="stop"))
        up.push(sse(usages[n]))
        up.close()
    received, done = [b"", b""], [False, False]
    while not all(done):  # one read from each in turn: their transforms alternate
        for n, client in enumerate(clients):
            if not done[n]:
                step = await client.read()
                done[n] = bool(step.done)
                received[n] += b"" if step.done else step.value.to_bytes()
    texts = [text.decode() for text in received]
    print(json.dumps({
        "name": "interleaved",
        "served": [[u.prompt_tokens, u.completion_tokens] for u in (o.served(0) for o in observers)],
        "own_text": [f"s{n}-" in text and f"s{1 - n}-" not in text for n, text in enumerate(texts)],
    }))


async def main() -> None:
    words = [chunk("Hello"), chunk(", wor"), chunk("ld")]
    await scenario("left_after_finish", [*words, chunk(finish="stop")], [sse(USAGE), "data: [DONE]\n\n"],
                   after_s=0.15, ending="none")
    await scenario("left_mid_generation", words, [chunk("more")], ending="none")
    await scenario("usage_never_came", [*words, chunk(finish="stop")], [], ending="none")
    await scenario("upstream_failed", words, [], leaves=False, ending="fail")
    await scenario("ended_normally", [*words, chunk(finish="stop")], [sse(USAGE), "data: [DONE]\n\n"], leaves=False)
    await interleaved()
    await scenario("last_event_unterminated", [*words, chunk(finish="stop")], [sse(USAGE), "data: [DONE]"],
                   leaves=False)
