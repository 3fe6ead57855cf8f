"""What one finished request books, decided once (pure): the model that served it, its tokens, its cost, and how it
ended (`Outcome`, for the recent-requests ring: metering.recent).

Booking is one verb, `book`, at every level: `Booking.book` in the container's Durable Object (or
`KeyGate.book_failed` at the edge, for a request that never got an answer) makes a `Charge`, and `keys.client.book`
hands it to the key's object (`KeyStore.book`: ledger, window, spend, and the lease's reservation settled in one
transaction) or `MasterLedger.book` takes it for the master key (`ledger.book`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from metering.pricing import Price, request_cost
from metering.usage import Usage

MODEL_GROUP_HEADER = "x-litellm-model-group"  # on LiteLLM's answers: the model group that served
MAX_MODEL_NAME = 256  # a model name from a response header longer than this is not LiteLLM's: the asked one is booked


@dataclass(frozen=True)
class Outcome:
    """How the request ended, as its client saw it."""

    status: int = 200  # the HTTP status answered (LiteLLM's, or the gateway's own)
    code: str | None = None  # the gateway's error code (errors.py), `stream_interrupted` for a cut stream
    request_id: str | None = None
    latency_ms: int | None = None  # from the request reaching the instance (or the edge) to its booking

    @property
    def failed(self) -> bool:
        """LiteLLM was not reached, or answered an error: booked as a request with nothing served."""
        return self.status >= 400

    @classmethod
    def from_wire(cls, value: Any) -> Outcome:
        if not isinstance(value, dict):
            return cls()
        status, latency = value.get("status"), value.get("latency_ms")
        code, request_id = value.get("code"), value.get("request_id")
        return cls(status if isinstance(status, int) else 200, code if isinstance(code, str) else None,
                   request_id if isinstance(request_id, str) else None, latency if isinstance(latency, int) else None)


@dataclass(frozen=True)
class Charge:
    model: str | None  # the model that served the request (LiteLLM's model group), else the one asked for
    usage: Usage  # `failed` included; zero tokens for a failed request
    cost: float  # USD; 0 for a failed request
    response_id: str | None = None  # the stored response the request created: the key's from now on
    outcome: Outcome = Outcome()

    def to_wire(self) -> dict[str, Any]:
        return {"model": self.model, "cost": self.cost, "response_id": self.response_id,
                "outcome": asdict(self.outcome), "usage": {"prompt_tokens": self.usage.prompt_tokens,
                          "completion_tokens": self.usage.completion_tokens, "failed": self.usage.failed}}

    @classmethod
    def from_wire(cls, payload: dict[str, Any]) -> Charge:
        stored = payload.get("response_id")
        return cls(payload.get("model"), Usage(**payload["usage"]), float(payload["cost"]),
                   stored if isinstance(stored, str) else None, Outcome.from_wire(payload.get("outcome")))


def served_model(asked: str | None, model_group: str | None) -> str | None:
    """LiteLLM names the model group that answered (`x-litellm-model-group`): after a fallback it is not the one
    asked for, and the booking follows what served."""
    if model_group and len(model_group) <= MAX_MODEL_NAME and model_group.isprintable():
        return model_group
    return asked


def charge_for(model: str | None, usage: Usage | None, outcome: Outcome, cost_header: str | None = None,
               prices: dict[str, Price] | None = None, response_id: str | None = None) -> Charge:
    """A failed request (LiteLLM not reached, or an error status) is one request with zero tokens and zero cost;
    `usage` None (none seen) books zero tokens. Cost: LiteLLM's figure, else tokens x `prices` (pricing)."""
    if outcome.failed:
        return Charge(model, Usage(0, 0, True), 0.0, outcome=outcome)
    counted = usage or Usage()
    return Charge(model, Usage(counted.prompt_tokens, counted.completion_tokens, False),
                  request_cost(cost_header, model, counted, prices or {}), response_id, outcome)


def needs_prices(cost_header: str | None, usage: Usage | None) -> bool:
    """Whether tokens x prices decide the cost: LiteLLM sent no figure (as on streams) for tokens it served."""
    return usage is not None and usage.total_tokens > 0 and request_cost(cost_header, None, usage, {}) == 0
