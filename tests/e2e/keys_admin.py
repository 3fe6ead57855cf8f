"""What the virtual-key e2e modules share: LiteLLM's key API driven over HTTP, and the ledger read back.

Known token counts come from the fake provider (tests/fakes/behaviours.count_tokens: len // 4, at least 1,
for the prompt and for the echoed "echo: <prompt>"), passed through LiteLLM unchanged.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.fakes.behaviours import ECHO_PREFIX, count_tokens
from tests.harness import Gateway, wait_for

BOOK_TIMEOUT_S = 5.0  # usage is booked in ctx.waitUntil after the last byte: give it this long to land


def known_usage(prompt: str) -> tuple[int, int]:
    """(prompt_tokens, completion_tokens) the fake reports for a one-message chat with this content."""
    return count_tokens(prompt), count_tokens(ECHO_PREFIX + prompt)


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def chat_body(content: str, model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


def together(count: int, call: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """`count` calls released at the same instant from their own threads."""
    start = threading.Barrier(count)

    def one(index: int) -> httpx.Response:
        start.wait()
        return call(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


class KeyAdmin:
    """The master key's view of a gateway's keys."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.client = gateway.client
        self.issued: list[str] = []  # every raw key generate() returned, for "never stored, never logged"

    def call(self, method: str, path: str, key: str | None = None, headers: dict[str, str] | None = None,
             **kwargs: Any) -> httpx.Response:
        """As the master key, or as `key`."""
        auth = bearer(key) if key is not None else self.gateway.auth()
        return self.client.request(method, path, headers={**auth, **(headers or {})}, **kwargs)

    def generate(self, **fields: Any) -> str:
        """A new key with these settings; returns the raw key (shown once)."""
        answer = self.call("POST", "/key/generate", json=fields)
        assert answer.status_code == 200, answer.text
        self.issued.append(answer.json()["key"])
        return self.issued[-1]

    def info(self, key: str) -> dict[str, Any]:
        answer = self.call("GET", "/key/info", params={"key": key})
        assert answer.status_code == 200, answer.text
        return answer.json()["info"]

    def chat(self, key: str, content: str, model: str = "gpt-4o-mini", **extra: Any) -> httpx.Response:
        return self.client.post("/v1/chat/completions", json=chat_body(content, model, **extra), headers=bearer(key))

    @staticmethod
    def days() -> dict[str, str]:
        """Yesterday to tomorrow (UTC), so a run across midnight still sees its own rows."""
        today = datetime.datetime.now(datetime.UTC).date()
        day = datetime.timedelta(days=1)
        return {"start_date": str(today - day), "end_date": str(today + day)}

    def report(self, group_by: str = "key") -> dict[str, Any]:
        answer = self.call("GET", "/spend/report", params={**self.days(), "group_by": group_by})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def ledger(self, token: str) -> dict[str, Any]:
        """This key's summed ledger row (keys.ops.MASTER for the master key); zeros when it has none yet."""
        rows = [row for row in self.report()["data"] if row["token"] == token]
        return rows[0] if rows else {"requests": 0, "failed_requests": 0, "prompt_tokens": 0,
                                     "completion_tokens": 0, "spend": 0.0, "total_tokens": 0}

    def wait_booked(self, token: str, requests: int) -> dict[str, Any]:
        """The key's ledger once it shows `requests` requests (they are booked just after the response)."""
        seen: dict[str, Any] = {}

        def booked() -> bool:
            seen.update(self.ledger(token))
            return seen["requests"] >= requests

        try:
            wait_for(booked, BOOK_TIMEOUT_S, interval=0.05)
        except TimeoutError:
            raise AssertionError(f"expected {requests} requests booked, ledger shows {seen}") from None
        time.sleep(0.2)  # a booking past the expected count would show now: callers assert the exact count
        return self.ledger(token)
