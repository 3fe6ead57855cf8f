"""Reservations: what a virtual key's request may cost at most, held from its admission to its booking (pure).

`max_budget` and `tpm_limit` hold under concurrency the way `rpm_limit` does: each admission reserves the
request's worst case in the same SQLite transaction that decides it (keys.store), and what requests in flight
hold counts as used. The worst case is known before the body is read (admission comes first, docs/security.md,
"Who asks comes first"): a prompt estimated from the body's Content-Length (`prompt_estimate`), plus an output
allowance of at most OUTPUT_GRANT_TOKENS, in tokens against `tpm_limit` and in dollars against `max_budget` at
the priciest per-token rates among the models the key may use (`extremes`; the rates are LiteLLM's, learned by the key's
object with each booking). Once the body is judged, the edge writes into it an output cap (`max_tokens`,
`max_completion_tokens` or `max_output_tokens`, per choice) that fits the reservation at the rates of the model
the request names (`output_allowance`). The booking replaces the reservation by what the request really used,
a failure releases it, and a lease never handed back expires with it (store.LEASE_TTL_MS).

What can still exceed a limit: a prompt whose real token count is above its estimate (docs/keys.md), and a
request whose cost is not a price per token (images, audio: `OTHER`, which holds all of a budget's rest).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from metering.pricing import Price
from metering.usage import tokens_in

OUTPUT_GRANT_TOKENS = 4096  # the most output one request reserves: LiteLLM's own default max_tokens for Claude
MIN_OUTPUT_TOKENS = 16  # a minimal answer (OpenAI's Responses API refuses a smaller max_output_tokens)

# What a request's cost depends on, by endpoint (request_policy.cost_kind):
OUTPUT = "output"  # generated text, whose cap the edge writes: chat, completions, responses, messages
INPUT = "input"  # only the prompt: embeddings, moderations, token counts
OTHER = "other"  # not a price per token (images, audio, rerank): reserves all that is left of a budget
NONE = "none"  # costs nothing (GET, DELETE): reserves nothing
KINDS = frozenset({OUTPUT, INPUT, OTHER, NONE})
BUDGET, TOKENS = "budget", "tokens"  # which limit a Shortfall is about


@dataclass(frozen=True)
class Need:
    """What the edge knows of a request before reading its body."""

    kind: str = NONE
    prompt_bytes: int | None = 0  # the body's Content-Length; None: not declared (chunked)

    @classmethod
    def from_wire(cls, value: Any) -> Need:
        if not isinstance(value, dict) or value.get("kind") not in KINDS:
            return cls()
        size = value.get("prompt_bytes")
        valid = isinstance(size, int) and not isinstance(size, bool) and size >= 0
        return cls(value["kind"], size if valid else None)


@dataclass(frozen=True)
class Held:
    """What the requests in flight have reserved (their leases)."""

    tokens: int = 0
    usd: float = 0.0


@dataclass(frozen=True)
class Grant:
    """What an admission reserved, as the edge needs it to write the request's output cap."""

    prompt_tokens: int = 0  # the prompt estimate reserved (from Content-Length; 0 when it was not declared)
    output_tokens: int | None = None  # output allowed by the tokens side; None: the edge writes no cap
    tokens_limited: bool = False  # output_tokens is what tpm_limit left (a larger prompt takes from it)
    usd: float | None = None  # dollars reserved (a budget); None: no budget

    @classmethod
    def from_wire(cls, value: Any) -> Grant | None:
        if not isinstance(value, dict):
            return None
        output, usd = value.get("output_tokens"), value.get("usd")
        return cls(int(value.get("prompt_tokens") or 0), None if output is None else int(output),
                   value.get("tokens_limited") is True, None if usd is None else float(usd))


@dataclass(frozen=True)
class Reservation:
    """What a lease holds until its booking."""

    tokens: int = 0
    usd: float = 0.0
    grant: Grant = field(default_factory=Grant)


@dataclass(frozen=True)
class Shortfall:
    """Why a request does not fit: `limit` is BUDGET or TOKENS; `held` when what requests in flight reserved is in
    the way (it frees as they finish), else the request does not fit even alone."""

    limit: str
    held: bool
    least_tokens: int = 0  # the fewest tokens it needs (a prompt estimate plus a minimal answer)


def prompt_estimate(size: int) -> int:
    """A prompt's tokens from its body's size (metering.usage.tokens_in; docs/keys.md: what it over- and
    under-counts)."""
    return tokens_in(size)


def least_tokens(need: Need) -> int:
    """The fewest tokens a request can be served with: its prompt estimate and a minimal answer."""
    if need.kind in (OTHER, NONE):
        return 0
    prompt = 0 if need.prompt_bytes is None else prompt_estimate(need.prompt_bytes)
    return prompt + (MIN_OUTPUT_TOKENS if need.kind == OUTPUT else 0)


def cost(price: Price, prompt: int, output: int) -> float:
    """At most what `prompt` and `output` tokens cost; output at the higher of both rates, so that prompt tokens
    the edge takes from the output allowance (an undeclared length) never cost more than reserved."""
    return prompt * price.input_per_token + output * max(price.input_per_token, price.output_per_token)


def extremes(prices: dict[str, Price]) -> tuple[Price, Price]:
    """(the priciest rates, the cheapest), each per direction, among `prices` (not empty)."""
    rates = list(prices.values())
    return (Price(max(p.input_per_token for p in rates), max(p.output_per_token for p in rates)),
            Price(min(p.input_per_token for p in rates), min(p.output_per_token for p in rates)))


def reserve(tpm_limit: int | None, tokens_used: int, max_budget: float | None, spend: float, held: Held,
            need: Need, prices: dict[str, Price]) -> Reservation | Shortfall:
    """The request's worst case, if it fits beside what the window used and the requests in flight hold.
    `prices`: the rates of the models the key may use, as learned (empty: none known yet, so a budget is held
    whole by one request at a time until a booking teaches them)."""
    budget_room = None if max_budget is None else max_budget - spend
    token_room = None if tpm_limit is None else tpm_limit - tokens_used
    if need.kind == NONE or (budget_room is None and token_room is None):
        if budget_room is not None and budget_room <= 0:
            return Shortfall(BUDGET, False)
        if token_room is not None and token_room <= 0:
            return Shortfall(TOKENS, False)
        return Reservation()
    known = need.prompt_bytes is not None
    prompt = prompt_estimate(need.prompt_bytes) if known and need.kind != OTHER else 0  # type: ignore[arg-type]
    minimal = MIN_OUTPUT_TOKENS if need.kind == OUTPUT else 0
    carved = need.kind == OUTPUT or (need.kind == INPUT and not known)  # the edge takes the rest from it
    output = OUTPUT_GRANT_TOKENS if carved else 0
    tokens, short_tokens = 0, None
    if token_room is not None:
        left_tokens = token_room - held.tokens
        if token_room <= 0 or prompt + minimal > token_room:
            short_tokens = Shortfall(TOKENS, False, prompt + minimal)
        elif left_tokens <= 0 or prompt + minimal > left_tokens:
            short_tokens = Shortfall(TOKENS, True, prompt + minimal)
        elif need.kind != OTHER:
            output = min(output, left_tokens - prompt)
            tokens = prompt + output
    usd: float | None = None
    if budget_room is not None:
        left = budget_room - held.usd
        priced = need.kind != OTHER and bool(prices)
        worst, cheapest = extremes(prices) if priced else (Price(), Price())
        floor = cost(cheapest, prompt, minimal)
        if budget_room <= 0 or floor > budget_room:
            return Shortfall(BUDGET, False)
        if left <= 0 or floor > left:
            return Shortfall(BUDGET, True)
        usd = min(left, cost(worst, prompt, output)) if priced else left
    if short_tokens is not None:
        return short_tokens
    grant = Grant(prompt, output if need.kind != OTHER else None, token_room is not None, usd)
    return Reservation(tokens, usd or 0.0, grant)


def price_of(prices: dict[str, Price], models: Iterable[Any]) -> Price | None:
    """The rates to cap a request by: the highest of the models it names (one of them is served), the priciest
    known for a model not among `prices` or when it names none; None when no rate is known."""
    if not prices:
        return None
    worst, _ = extremes(prices)
    named = [prices.get(model, worst) if isinstance(model, str) else worst for model in models] or [worst]
    return Price(max(p.input_per_token for p in named), max(p.output_per_token for p in named))


def output_allowance(grant: Grant, prompt_bytes: int, price: Price | None) -> tuple[int, str]:
    """The output tokens a request of `prompt_bytes` may produce within its grant, and which limit bounds them
    (TOKENS or BUDGET); negative when even its prompt does not fit. `price`: the rates of its model (price_of)."""
    excess = max(0, prompt_estimate(prompt_bytes) - grant.prompt_tokens)  # an undeclared length, read now
    allowed, bound = OUTPUT_GRANT_TOKENS, TOKENS
    if grant.output_tokens is not None:
        allowed = grant.output_tokens - excess if grant.tokens_limited else min(allowed, grant.output_tokens)
    if grant.usd is not None and price is not None:
        rest = grant.usd - prompt_estimate(prompt_bytes) * price.input_per_token
        rate = max(price.input_per_token, price.output_per_token)
        by_budget = -1 if rest < 0 else allowed if rest >= allowed * rate else math.floor(rest / rate)
        if by_budget < allowed:
            allowed, bound = by_budget, BUDGET
    return allowed, bound
