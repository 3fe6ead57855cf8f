"""OpenAI-shaped endpoints of the fake provider: chat completions, legacy completions, embeddings, models.

Every handler gets the parsed request (see ``fake_provider.Call``) and writes its answer itself, because
streaming, hanging and cutting a connection all need raw control over ASGI ``send``.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from .behaviours import (
    ECHO_PREFIX,
    count_tokens,
    embedding_base64,
    embedding_for,
    last_user_text,
    pause_ms,
    prompt_text,
    split_text,
)

if TYPE_CHECKING:
    from .fake_provider import Call


def error_body(status: int, message: str) -> dict[str, Any]:
    kind, code = ("rate_limit_error", "rate_limit_exceeded") if status == 429 else ("server_error", None)
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _usage(prompt: str, completion: str) -> dict[str, int]:
    p, c = count_tokens(prompt), count_tokens(completion)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def chat_marker(body: dict[str, Any]) -> str:
    return last_user_text(body.get("messages"))


def completion_marker(body: dict[str, Any]) -> str:
    return prompt_text(body.get("prompt"))


async def chat_completions(call: Call) -> None:
    """POST /v1/chat/completions."""
    if await call.apply_common_behaviour(error_body):
        return
    text = ECHO_PREFIX + call.marker
    rid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    if not call.stream:
        await call.json(
            200,
            {
                "id": rid,
                "object": "chat.completion",
                "created": created,
                "model": call.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": _usage(call.marker, text),
                "system_fingerprint": "fp_fake",
            },
        )
        return

    include_usage = bool((call.body.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": call.model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            out["usage"] = None  # OpenAI sends an explicit null on every chunk but the last
        return out

    await call.start_sse()
    for i, piece in enumerate(split_text(text, call.behaviour.chunks)):
        if i:
            await pause_ms(call.behaviour.chunk_delay_ms)
        delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
        await call.sse(chunk(delta, None))
        if call.behaviour.cut and i == 1:
            await call.abort()
            return
    await call.sse(chunk({}, "stop"))
    if include_usage:
        last = chunk({}, None)
        last["choices"] = []
        last["usage"] = _usage(call.marker, text)
        await call.sse(last)
    await call.sse_done()


async def completions(call: Call) -> None:
    """POST /v1/completions (legacy text completion)."""
    if await call.apply_common_behaviour(error_body):
        return
    text = ECHO_PREFIX + call.marker
    rid = f"cmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())

    def body(piece: str, finish: str | None) -> dict[str, Any]:
        return {
            "id": rid,
            "object": "text_completion",
            "created": created,
            "model": call.model,
            "choices": [{"text": piece, "index": 0, "logprobs": None, "finish_reason": finish}],
        }

    if not call.stream:
        await call.json(200, {**body(text, "stop"), "usage": _usage(call.marker, text)})
        return
    include_usage = bool((call.body.get("stream_options") or {}).get("include_usage"))
    await call.start_sse()
    for i, piece in enumerate(split_text(text, call.behaviour.chunks)):
        if i:
            await pause_ms(call.behaviour.chunk_delay_ms)
        await call.sse(body(piece, None))
        if call.behaviour.cut and i == 1:
            await call.abort()
            return
    await call.sse(body("", "stop"))
    if include_usage:
        await call.sse({**body("", None), "choices": [], "usage": _usage(call.marker, text)})
    await call.sse_done()


async def embeddings(call: Call) -> None:
    """POST /v1/embeddings: one deterministic vector per input string."""
    if await call.apply_common_behaviour(error_body):
        return
    raw = call.body.get("input")
    inputs = raw if isinstance(raw, list) else [raw]
    # Token-id inputs (lists of ints) are hashed through their repr: still deterministic.
    texts = [x if isinstance(x, str) else repr(x) for x in inputs]
    as_base64 = call.body.get("encoding_format") == "base64"
    data = []
    for i, text in enumerate(texts):
        vector = embedding_for(text)
        data.append(
            {
                "object": "embedding",
                "index": i,
                "embedding": embedding_base64(vector) if as_base64 else vector,
            }
        )
    tokens = sum(count_tokens(t) for t in texts)
    await call.json(
        200,
        {
            "object": "list",
            "data": data,
            "model": call.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
    )


def embedding_marker(body: dict[str, Any]) -> str:
    raw = body.get("input")
    if isinstance(raw, list) and raw and isinstance(raw[-1], str):
        return raw[-1]
    return raw if isinstance(raw, str) else ""


MODEL_IDS = ("gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo-instruct", "text-embedding-3-small")


async def list_models(call: Call) -> None:
    """GET /v1/models: a fixed list plus every model the fake has been asked for."""
    ids = list(dict.fromkeys([*MODEL_IDS, *call.stats.hits]))
    await call.json(
        200,
        {
            "object": "list",
            "data": [{"id": i, "object": "model", "created": 0, "owned_by": "fake-provider"} for i in ids],
        },
    )
