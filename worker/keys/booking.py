"""Booking at the container's Durable Object, which sees every answer pass (a thin adapter).

The edge says who pays in a `keys.ticket.Ticket`; `proxy` hands each answer's body through `observe` and
calls `settle` exactly once when the request is over. The master key's requests are booked in this
instance's own ledger (no call); a virtual key's in its object (`keys.gate.finish`, which frees its lease).
Booking never delays the client: it runs after the last byte. A stream is booked with the usage it reported,
or an estimate from what went by when it ended without it (keys.usage.SseUsage.served).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from content_types import is_json, media_type
from durations import now_ms
from jsonlog import EventLog
from keys import gate
from keys.ledger import MasterLedger
from keys.ops import Rpc
from keys.pricing import Price, request_cost
from keys.ticket import Ticket
from keys.usage import JsonUsage, SseUsage, Usage
from streams import Observer, background


class Booking:
    def __init__(self, ticket: Ticket, master_ledger: Callable[[], Awaitable[MasterLedger]], rpc: Rpc,
                 prices: Callable[[], Awaitable[dict[str, Price]]], log: EventLog) -> None:
        self._ticket = ticket
        self._master_ledger = master_ledger
        self._rpc = rpc
        self._prices = prices
        self._log = log
        self._usage: Callable[[], Usage | None] = lambda: None
        self._cost_header: str | None = None
        self._settled = False

    def observe(self, content_type: str | None, cost_header: str | None, request_bytes: int) -> Observer | None:
        """What watches a successful answer's body on its way (None: a body with no usage in it, e.g. audio);
        `cost_header` is LiteLLM's own figure for the request, if it sent one; `request_bytes` the request
        body's size, which a stream's estimate starts from."""
        self._cost_header = cost_header
        if media_type(content_type) == "text/event-stream":  # also drops the usage chunk the edge asked for
            events = SseUsage(strip_added_usage=self._ticket.added_usage)
            self._usage = lambda: events.served(request_bytes)
            return events
        if not is_json(content_type):
            return None
        body = JsonUsage()
        self._usage = body.usage
        return body

    def settle(self, failed: bool) -> None:
        """Books the request once it is over. `failed`: LiteLLM was not reached or answered an error. A
        client that left mid-stream is booked with what went by: the stream's usage when the relay could
        read on to it, else an estimate."""
        if not self._settled:
            self._settled = True
            background(self._book(self._usage(), failed))

    async def _book(self, usage: Usage | None, failed: bool) -> None:
        ticket = self._ticket
        counted = usage or Usage()
        if counted.estimated and not failed:  # counts only: never a key, a model or any text
            self._log.emit("info", "usage_estimated", prompt_tokens=counted.prompt_tokens,
                           completion_tokens=counted.completion_tokens)
        cost = request_cost(self._cost_header, ticket.model, counted, {})
        if cost == 0 and counted.total_tokens > 0:  # no figure from LiteLLM, as on streams
            cost = request_cost(self._cost_header, ticket.model, counted, await self._prices())
        try:
            if ticket.token is None:
                (await self._master_ledger()).book(ticket.model, *gate.booked(usage, cost, failed), now_ms())
            else:
                # LiteLLM's prices travel with the booking: the key object learns them to reserve budgets.
                await gate.finish(self._rpc, ticket.token, ticket.lease, ticket.model, usage, cost, failed,
                                  prices=await self._prices())
        except Exception as exc:  # a lost booking is logged, never raised into a finished stream
            self._log.emit("error", "booking_failed", error=type(exc).__name__)
