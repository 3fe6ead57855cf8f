"""A minimal ASGI `receive` for driving LiteLLM's own request parsing with one body (differential tests)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable


def one_body(raw: bytes) -> Callable[[], Awaitable[dict]]:
    """`receive` that hands over `raw` whole, then a disconnect."""
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    return receive
