"""Booking at the container's Durable Object, which sees every answer pass (a thin adapter).

The edge says who pays in a `keys.ticket.Ticket`; `proxy` hands each answer's body through `observe` and
calls `book` exactly once when the request is over. What is booked is decided in metering.charge (pure); the
master key's requests go to this instance's own ledger (no call), a virtual key's to its object (`keys.client.book`,
which frees its lease). Booking never delays the client: it runs after the last byte. A stream is booked with the
usage it reported, or an estimate from what went by when it ended without it (metering.usage.SseUsage.served).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from durations import now_ms
from jsonlog import EventLog
from keys import client
from keys.ops import Rpc
from keys.ticket import Ticket
from metering.charge import Outcome, charge_for, needs_prices, served_model
from metering.ledger import MasterLedger
from metering.pricing import Price
from metering.usage import JsonUsage, SseUsage, Usage
from tasks import background

if TYPE_CHECKING:  # the relay's protocol (Pyodide only): a type here, so this module imports on CPython
    from bridge.streams import Observer
from rules.content_types import is_json, media_type


class Booking:
    def __init__(self, ticket: Ticket, request_id: str, master_ledger: Callable[[], Awaitable[MasterLedger]], rpc: Rpc,
                 prices: Callable[[], Awaitable[dict[str, Price]]], log: EventLog) -> None:
        self._ticket = ticket
        self._request_id = request_id
        self._started_ms = now_ms()
        self._master_ledger = master_ledger
        self._rpc = rpc
        self._prices = prices
        self._log = log
        self._usage: Callable[[], Usage | None] = lambda: None
        self._response_id: Callable[[], str | None] = lambda: None
        self._cost_header: str | None = None
        self._model = ticket.model
        self._booked = False

    def observe(self, content_type: str | None, cost_header: str | None, model_group: str | None,
                request_bytes: int) -> Observer | None:
        """What watches a successful answer's body on its way (None: a body with no usage in it, e.g. audio);
        `cost_header` is LiteLLM's own figure for the request, if it sent one; `model_group` the model that
        served it (metering.charge.served_model); `request_bytes` the request body's size, which a stream's estimate
        starts from."""
        self._cost_header = cost_header
        self._model = served_model(self._ticket.model, model_group)
        if media_type(content_type) == "text/event-stream":  # also drops the usage chunk the edge asked for
            events = SseUsage(strip_added_usage=self._ticket.added_usage)
            self._usage = lambda: events.served(request_bytes)
            self._response_id = lambda: events.response_id
            return events
        if not is_json(content_type):
            return None
        body = JsonUsage()
        self._usage = body.usage
        self._response_id = body.response_id
        return body

    def book(self, status: int, code: str | None = None) -> None:
        """Books the request once it is over, with the status its client got (>= 400: LiteLLM was not reached
        or answered an error) and the gateway's error code if any. A client that left mid-stream is booked with
        what went by: the stream's usage when the relay could read on to it, else an estimate."""
        if not self._booked:
            self._booked = True
            outcome = Outcome(status, code, self._request_id, now_ms() - self._started_ms)
            # Queued, not started here: `book` runs as the body ends, and the client's last bytes go first.
            background(self._send(None if outcome.failed else self._usage(), outcome), now=False)

    async def _send(self, usage: Usage | None, outcome: Outcome) -> None:
        ticket, failed = self._ticket, outcome.failed
        if usage is not None and usage.estimated and not failed:  # counts only: never a key, a model or any text
            self._log.emit("info", "usage_estimated", prompt_tokens=usage.prompt_tokens,
                           completion_tokens=usage.completion_tokens)
        try:
            # A key's object learns LiteLLM's prices from its bookings (to reserve budgets): they always travel.
            priced = ticket.token is not None or (not failed and needs_prices(self._cost_header, usage))
            prices = await self._prices() if priced else {}
            stored = self._response_id() if ticket.stores and ticket.token is not None else None
            charge = charge_for(self._model, usage, outcome, self._cost_header, prices, stored)
            if ticket.token is None:
                (await self._master_ledger()).book(charge, now_ms())
            else:
                await client.book(self._rpc, ticket.token, ticket.lease, charge, prices)
        except Exception as exc:  # a lost booking is logged, never raised into a finished stream
            self._log.emit("error", "booking_failed", error=type(exc).__name__)
