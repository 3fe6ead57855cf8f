"""What the edge tells the container's Durable Object about a request it must book once the answer is over.

The edge decides who pays (the master key, or a virtual key admitted with a lease) and which model the body
asked for; the Durable Object sees the answer pass and books it (container.booking). The ticket
travels in one internal request header: the edge drops a client's copy, and `header_policy` drops every
`x-gateway-*` header before LiteLLM.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Ticket:
    token: str | None  # the virtual key's token (keys.material.token_of); None for the master key
    lease: str | None  # the virtual key's admission lease, freed by the booking
    model: str | None  # the `model` the request asked for
    added_usage: bool = False  # the edge added `stream_options.include_usage`: strip that chunk again
    stores: bool = False  # it creates a Responses API response: the key records its id (metering.charge)

    def header_value(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))  # ASCII only (ensure_ascii): a valid header

    @classmethod
    def from_header(cls, value: str | None) -> Ticket | None:
        """None when absent or malformed (only the edge writes it, so malformed means a bug: book nothing)."""
        if not value:
            return None
        try:
            data = json.loads(value)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        token, lease, model = data.get("token"), data.get("lease"), data.get("model")
        if not all(item is None or isinstance(item, str) for item in (token, lease, model)):
            return None
        return cls(token, lease, model, data.get("added_usage") is True, data.get("stores") is True)
