"""The calls to a virtual key's object around each of its /v1/* requests: `admit` (from the edge, before
forwarding), `owner` (a stored response's, when the request addresses one) and `book` (from the container's
Durable Object, after the last byte; keys.ticket says who pays, metering.charge what). Master-key requests make
none: no limits, and the serving container instance books them in its own ledger (metering.ledger.MasterLedger).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keys.ops import Rpc, prices_from_wire
from keys.record import ALL_MODELS
from keys.reservations import Grant, Need
from metering.charge import Charge
from metering.pricing import Price
from rules.errors import GatewayError


@dataclass(frozen=True)
class Admission:
    refusal: GatewayError | None  # None: go on; else the edge answers it as is
    headers: dict[str, str]  # x-ratelimit-* to add to the response, refused or not
    lease: str | None = None  # hand back to book()
    models: list[str] = field(default_factory=list)  # the key's allowed models (empty = all)
    grant: Grant | None = None  # what it reserved, when the edge must write the request's output cap
    prices: dict[str, Price] = field(default_factory=dict)  # the rates reserved at, to cap by (keys.reservations)


async def admit(rpc: Rpc, token: str, model: str | None, need: Need | None = None,
                request_id: str | None = None) -> Admission:
    """`token` is material.token_of(presented key); `model` None leaves the model to the edge, which checks
    it against `Admission.models` once the body is judged (model_allowed). `need`: what the request may cost,
    as known before its body is read (keys.reservations); None reserves nothing."""
    payload: dict[str, Any] = {"model": model, "request_id": request_id}  # a refusal is noted under it
    if need is not None:
        payload["need"] = {"kind": need.kind, "prompt_bytes": need.prompt_bytes}
    answer = await rpc.call(token, "admit", payload)
    refusal = answer["refusal"]
    return Admission(None if refusal is None else GatewayError.from_wire(refusal), dict(answer["headers"]),
                     answer["lease"], list(answer["models"]), Grant.from_wire(answer.get("grant")),
                     prices_from_wire(answer.get("prices")))


async def book(rpc: Rpc, token: str, lease: str | None, charge: Charge,
               prices: dict[str, Price] | None = None) -> None:
    """Books the request in the key's object and frees its lease with what it reserved. `prices`: LiteLLM's
    per-token prices by model name (metering.pricing), which the key's object learns to reserve by."""
    payload: dict[str, Any] = {"lease": lease, **charge.to_wire()}
    if prices:
        payload["prices"] = {name: [price.input_per_token, price.output_per_token] for name, price in prices.items()}
    await rpc.call(token, "book", payload)


async def owner(rpc: Rpc, token: str, response_id: Any, lease: str | None) -> tuple[str | None, bool]:
    """The model of the stored response `response_id` if this key created it (else None), and whether other
    requests of the key are in flight (keys.store.KeyStore.owner_of)."""
    if not isinstance(response_id, str) or not response_id:
        return None, False
    answer = await rpc.call(token, "owner", {"id": response_id, "lease": lease})
    model = answer.get("model")
    return (model if isinstance(model, str) else None), answer.get("pending") is True


def model_allowed(models: list[str], model: str | None) -> bool:
    """Whether a key with `models` (empty: every model) may use `model` (None: the request names none)."""
    return model is None or not models or ALL_MODELS in models or model in models


def visible_models(listing: Any, models: list[str]) -> Any:
    """/v1/models for a key: only its models (an OpenAI list `{"object": "list", "data": [{"id"}]}`)."""
    if not models or ALL_MODELS in models or not isinstance(listing, dict) or not isinstance(listing.get("data"), list):
        return listing
    allowed = set(models)
    return {**listing, "data": [item for item in listing["data"]
                                if isinstance(item, dict) and item.get("id") in allowed]}
