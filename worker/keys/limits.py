"""The admission verdict for one request made with a virtual key: pure, from one consistent snapshot.

Windows: `rpm_limit` and `tpm_limit` count over the trailing 60 s (a sliding log, not per-minute
buckets), so no burst of 2x the limit fits across a minute boundary and every wait is exact:
Retry-After is when the oldest request leaves the window (rpm), or when enough tokens have left it for
the request to fit (tpm). `tpm_limit` and `max_budget` count what requests in flight reserved as used
(keys.reservations): each admission reserves its worst case, and its booking replaces that by what it used.
`max_parallel_requests` counts admitted requests not yet finished (leases; see store.LEASE_TTL_MS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from keys.record import KeyRecord
from keys.reservations import BUDGET, Held, Need, Reservation, Shortfall, reserve
from metering.pricing import Price
from rules import errors
from rules.errors import GatewayError

WINDOW_MS = 60_000  # also in keys.store.MIGRATIONS' trigger (see LEASE_TTL_MS there)
REQUESTS, TOKENS = "requests", "tokens"  # OpenAI's error type for each kind of rate limit
PARALLEL_RETRY_AFTER_S = 1  # a slot frees when some request ends: unknowable, so ask again soon


@dataclass(frozen=True)
class Window:
    """What the key used in the trailing window (totals), the oldest entries a reset time or a Retry-After
    needs, and the requests still in flight. The store reads totals in SQL and only as many rows as needed."""

    requests: int = 0  # admissions in the window
    tokens: int = 0  # tokens of requests finished in the window
    # Admission times (ms), oldest first: the first one, and when `requests` is at or over the rpm limit
    # every one up to the one whose leaving frees a slot (index `requests - rpm_limit`).
    oldest_requests: list[int] = field(default_factory=list)
    # (finish time ms, tokens), oldest first: the first one, or all of them when over the tpm limit.
    oldest_tokens: list[tuple[int, int]] = field(default_factory=list)
    inflight: int = 0
    held: Held = field(default_factory=Held)  # what the requests in flight reserved


@dataclass(frozen=True)
class Verdict:
    refusal: GatewayError | None  # errors.py's own factories: the edge answers it as is
    headers: dict[str, str]  # OpenAI's x-ratelimit-* for this key, for refusals and answers alike
    reservation: Reservation = field(default_factory=Reservation)  # what the lease holds when admitted
    prices: dict[str, Price] = field(default_factory=dict)  # the rates it was reserved at (the edge caps by them)


def decide(record: KeyRecord | None, window: Window, now_ms: int, model: str | None, need: Need | None = None,
           prices: dict[str, Price] | None = None) -> Verdict:
    """Whether the request may go on, and what it reserves. `record` must already be rolled over to the current
    period; `need` None reserves nothing (as for a request that costs nothing); `prices`: see reservations.reserve."""
    if record is None or record.deleted_ms is not None:
        return Verdict(errors.invalid_api_key(), {})
    if record.blocked:
        return Verdict(errors.key_blocked(), {})
    if record.expires_ms is not None and record.expires_ms <= now_ms:
        return Verdict(errors.key_expired(), {})
    headers = rate_limit_headers(record, window, now_ms)
    if model is not None and not record.allows_model(model):
        return Verdict(errors.model_not_allowed(model), headers)
    verdict = _over_limit(record, window, now_ms, need or Need(), prices or {})
    if isinstance(verdict, GatewayError):
        return Verdict(verdict, headers)
    return Verdict(None, rate_limit_headers(record, window, now_ms, admitted=True, reserved=verdict.tokens),
                    verdict, prices or {})


def _over_limit(record: KeyRecord, window: Window, now_ms: int, need: Need,
                prices: dict[str, Price]) -> GatewayError | Reservation:
    verdict = reserve(record.tpm_limit, window.tokens, record.max_budget, record.spend, window.held, need, prices)
    if isinstance(verdict, Shortfall) and verdict.limit == BUDGET:
        return budget_refusal(record, now_ms, verdict.held)
    if record.rpm_limit is not None and window.requests >= record.rpm_limit:
        # When the oldest admissions have left the window for one more to fit.
        free_at = window.oldest_requests[window.requests - record.rpm_limit] + WINDOW_MS
        return errors.rate_limit_exceeded(
            f"Rate limit reached: {record.rpm_limit} requests per minute for this API key.", REQUESTS,
            _seconds(free_at - now_ms))
    if isinstance(verdict, Shortfall):
        return _tokens_refusal(record.tpm_limit or 0, window, now_ms, verdict)
    if record.max_parallel_requests is not None and window.inflight >= record.max_parallel_requests:
        return errors.rate_limit_exceeded(
            f"Too many parallel requests: at most {record.max_parallel_requests} for this API key.", REQUESTS,
            PARALLEL_RETRY_AFTER_S)
    return verdict


def budget_refusal(record: KeyRecord, now_ms: int, held: bool) -> GatewayError:
    """`held`: what requests in flight reserved is in the way (ask again soon), else the budget left is not
    enough (until the period resets)."""
    if held:
        return errors.insufficient_quota("This API key's budget left is reserved by its requests in flight.",
                                         PARALLEL_RETRY_AFTER_S)
    reset = record.budget_reset_ms(now_ms)
    spent = record.max_budget is not None and record.spend >= record.max_budget
    return errors.insufficient_quota(
        (f"This API key has used its budget of {record.max_budget} USD" if spent else
         f"This API key's budget of {record.max_budget} USD does not cover this request")
        + ("." if reset is None else " for this period."), None if reset is None else _seconds(reset - now_ms))


def _tokens_refusal(limit: int, window: Window, now_ms: int, short: Shortfall) -> GatewayError:
    if short.held:
        return errors.rate_limit_exceeded(
            f"Rate limit reached: {limit} tokens per minute for this API key, reserved by its requests in flight.",
            TOKENS, PARALLEL_RETRY_AFTER_S)
    if short.least_tokens > limit:  # never fits: OpenAI's "Request too large"
        return errors.rate_limit_exceeded(
            f"Request too large: it needs at least {short.least_tokens} tokens (its prompt estimated from its size, "
            f"and a minimal answer); this API key's limit is {limit} tokens per minute.", TOKENS, None)
    return errors.rate_limit_exceeded(
        f"Rate limit reached: {limit} tokens per minute for this API key.", TOKENS,
        _seconds(_tokens_under_at(window, limit - max(short.least_tokens, 1) + 1) - now_ms))


def rate_limit_headers(record: KeyRecord, window: Window, now_ms: int, admitted: bool = False,
                       reserved: int = 0) -> dict[str, str]:
    """Only for the limits the key has. `reset-*` is the time until `remaining` next goes up; the tokens
    remaining leave out what requests in flight reserved (`reserved`: this one's, once admitted)."""
    headers: dict[str, str] = {}
    if record.rpm_limit is not None:
        used = window.requests + int(admitted)
        oldest = window.oldest_requests[0] if window.oldest_requests else now_ms if admitted else None
        headers["x-ratelimit-limit-requests"] = str(record.rpm_limit)
        headers["x-ratelimit-remaining-requests"] = str(max(0, record.rpm_limit - used))
        headers["x-ratelimit-reset-requests"] = format_reset_ms(0 if oldest is None else oldest + WINDOW_MS - now_ms)
    if record.tpm_limit is not None:
        headers["x-ratelimit-limit-tokens"] = str(record.tpm_limit)
        left = record.tpm_limit - window.tokens - window.held.tokens - reserved
        headers["x-ratelimit-remaining-tokens"] = str(max(0, left))
        first = window.oldest_tokens[0][0] + WINDOW_MS - now_ms if window.oldest_tokens else 0
        headers["x-ratelimit-reset-tokens"] = format_reset_ms(first)
    return headers


def format_reset_ms(ms: int) -> str:
    """OpenAI's spelling of a wait: "250ms", "12s", "1m0s", "1m2.5s"."""
    ms = max(0, ms)
    if ms < 1000:
        return f"{ms}ms"
    minutes, rest = divmod(ms, 60_000)
    seconds = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"


def _seconds(ms: int) -> int:
    return max(1, math.ceil(ms / 1000))


def _tokens_under_at(window: Window, limit: int) -> int:
    total = window.tokens
    for finished_ms, tokens in window.oldest_tokens:
        total -= tokens
        if total < limit:
            return finished_ms + WINDOW_MS
    return window.oldest_tokens[-1][0] + WINDOW_MS
