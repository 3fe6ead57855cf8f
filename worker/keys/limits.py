"""The admission decision for one request made with a virtual key: pure, from one consistent snapshot.

Windows: `rpm_limit` and `tpm_limit` count over the trailing 60 s (a sliding log, not per-minute
buckets), so no burst of 2x the limit fits across a minute boundary and every wait is exact:
Retry-After is when the oldest request leaves the window (rpm), or when enough tokens have left it to
be under the limit again (tpm). Tokens are known only once a response is done, so the request that
crosses `tpm_limit` or `max_budget` completes and the next one is refused. `max_parallel_requests`
counts admitted requests not yet finished (leases; see store.LEASE_TTL_MS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from keys.record import KeyRecord

WINDOW_MS = 60_000
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


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    type: str
    message: str
    retry_after_s: int | None = None


@dataclass(frozen=True)
class Decision:
    refusal: Refusal | None
    headers: dict[str, str]  # OpenAI's x-ratelimit-* for this key, for refusals and answers alike


def invalid_key() -> Refusal:
    return Refusal(401, "invalid_api_key", "invalid_request_error", "Invalid API key.")


def decide(record: KeyRecord | None, window: Window, now_ms: int, model: str | None) -> Decision:
    """Whether the request may go on. `record` must already be rolled over to the current period."""
    if record is None or record.deleted_ms is not None:
        return Decision(invalid_key(), {})
    if record.blocked:
        return Decision(Refusal(401, "key_blocked", "invalid_request_error", "This API key is blocked."), {})
    if record.expires_ms is not None and record.expires_ms <= now_ms:
        return Decision(Refusal(401, "key_expired", "invalid_request_error", "This API key has expired."), {})
    headers = rate_limit_headers(record, window, now_ms)
    if model is not None and not record.allows_model(model):
        return Decision(Refusal(403, "model_not_allowed", "invalid_request_error",
                                f"This API key is not allowed to use the model '{model[:200]}'."), headers)
    refusal = _over_limit(record, window, now_ms)
    if refusal is not None:
        return Decision(refusal, headers)
    return Decision(None, rate_limit_headers(record, window, now_ms, admitted=True))


def _over_limit(record: KeyRecord, window: Window, now_ms: int) -> Refusal | None:
    if record.max_budget is not None and record.spend >= record.max_budget:
        reset = record.budget_reset_ms(now_ms)
        return Refusal(429, "insufficient_quota", "insufficient_quota",
                       f"This API key has used its budget of {record.max_budget} USD"
                       + ("." if reset is None else " for this period."),
                       None if reset is None else _seconds(reset - now_ms))
    if record.rpm_limit is not None and window.requests >= record.rpm_limit:
        # When the oldest admissions have left the window for one more to fit.
        free_at = window.oldest_requests[window.requests - record.rpm_limit] + WINDOW_MS
        return Refusal(429, "rate_limit_exceeded", "requests",
                       f"Rate limit reached: {record.rpm_limit} requests per minute for this API key.",
                       _seconds(free_at - now_ms))
    if record.tpm_limit is not None and window.tokens >= record.tpm_limit:
        return Refusal(429, "rate_limit_exceeded", "tokens",
                       f"Rate limit reached: {record.tpm_limit} tokens per minute for this API key.",
                       _seconds(_tokens_under_at(window, record.tpm_limit) - now_ms))
    if record.max_parallel_requests is not None and window.inflight >= record.max_parallel_requests:
        return Refusal(429, "rate_limit_exceeded", "requests",
                       f"Too many parallel requests: at most {record.max_parallel_requests} for this API key.",
                       PARALLEL_RETRY_AFTER_S)
    return None


def rate_limit_headers(record: KeyRecord, window: Window, now_ms: int, admitted: bool = False) -> dict[str, str]:
    """Only for the limits the key has. `reset-*` is the time until `remaining` next goes up."""
    headers: dict[str, str] = {}
    if record.rpm_limit is not None:
        used = window.requests + int(admitted)
        oldest = window.oldest_requests[0] if window.oldest_requests else now_ms if admitted else None
        headers["x-ratelimit-limit-requests"] = str(record.rpm_limit)
        headers["x-ratelimit-remaining-requests"] = str(max(0, record.rpm_limit - used))
        headers["x-ratelimit-reset-requests"] = format_reset_ms(0 if oldest is None else oldest + WINDOW_MS - now_ms)
    if record.tpm_limit is not None:
        headers["x-ratelimit-limit-tokens"] = str(record.tpm_limit)
        headers["x-ratelimit-remaining-tokens"] = str(max(0, record.tpm_limit - window.tokens))
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
