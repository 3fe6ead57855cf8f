"""Anthropic Messages endpoint of the fake provider: ``POST /v1/messages``, plain JSON and SSE events.

The event sequence mirrors the real API (message_start, content_block_start, ping, content_block_delta...,
content_block_stop, message_delta with usage, message_stop), each as an ``event:`` + ``data:`` pair, because
LiteLLM's native ``anthropic/`` translation parses exactly that.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from .behaviours import ECHO_PREFIX, count_tokens, last_user_text, pause_ms, split_text

if TYPE_CHECKING:
    from .fake_provider import Call


def error_body(status: int, message: str) -> dict[str, Any]:
    kind = "rate_limit_error" if status == 429 else "api_error"
    return {"type": "error", "error": {"type": kind, "message": message}}


def messages_marker(body: dict[str, Any]) -> str:
    return last_user_text(body.get("messages"))


async def messages(call: Call) -> None:
    """POST /v1/messages."""
    if await call.apply_common_behaviour(error_body):
        return
    text = ECHO_PREFIX + call.marker
    mid = f"msg_{uuid.uuid4().hex[:24]}"
    input_tokens, output_tokens = count_tokens(call.marker), count_tokens(text)
    if not call.stream:
        await call.json(
            200,
            {
                "id": mid,
                "type": "message",
                "role": "assistant",
                "model": call.model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
            },
        )
        return

    await call.start_sse()
    start = {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": call.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1},
    }
    await call.sse({"type": "message_start", "message": start}, event="message_start")
    await call.sse(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        event="content_block_start",
    )
    await call.sse({"type": "ping"}, event="ping")
    for i, piece in enumerate(split_text(text, call.behaviour.chunks)):
        if i:
            await pause_ms(call.behaviour.chunk_delay_ms)
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
        await call.sse(delta, event="content_block_delta")
        if call.behaviour.cut and i == 1:
            await call.abort()
            return
    await call.sse({"type": "content_block_stop", "index": 0}, event="content_block_stop")
    await call.sse(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        },
        event="message_delta",
    )
    await call.sse({"type": "message_stop"}, event="message_stop")
    await call.finish()
