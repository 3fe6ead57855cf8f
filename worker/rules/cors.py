"""CORS for browser clients: only origins the operator lists in CORS_ALLOWED_ORIGINS (none by default).

A preflight is answered with the request headers the browser asks for, when each is one the official
browser SDKs send: explicit names, plus whole families whose members change between SDK releases
(the openai and @anthropic-ai/sdk packages add `x-stainless-*` and `anthropic-*` headers, e.g.
`x-stainless-helper-method` on stream helpers). A header outside the list fails the preflight, as
the browser would fail it anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rules.auth import CREDENTIAL_HEADERS

_ALLOWED_HEADER_NAMES = frozenset({
    *CREDENTIAL_HEADERS, "content-type", "accept", "x-request-id", "x-session-affinity", "idempotency-key",
    "traceparent", "tracestate", "baggage",  # W3C trace context (@anthropic-ai/sdk can send it)
})
_ALLOWED_HEADER_FAMILIES = ("x-stainless-", "anthropic-", "openai-")
# What a preflight without Access-Control-Request-Headers is told (browsers always send the list).
_DEFAULT_ALLOWED_HEADERS = ", ".join(sorted(_ALLOWED_HEADER_NAMES))
_EXPOSED_HEADERS = ("x-request-id, request-id, retry-after, retry-after-ms, x-ratelimit-limit-requests, "
                    "x-ratelimit-limit-tokens, x-ratelimit-remaining-requests, x-ratelimit-remaining-tokens, "
                    "x-ratelimit-reset-requests, x-ratelimit-reset-tokens")
# [0-9]: \d also takes other scripts' digits; \Z: `$` also matches before a final newline.
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?\Z")
_HEADER_NAME = re.compile(r"^[a-z0-9-]{1,100}$")


def allowed_request_header(name: str) -> bool:
    lower = name.strip().lower()
    if not _HEADER_NAME.match(lower):
        return False
    return lower in _ALLOWED_HEADER_NAMES or lower.startswith(_ALLOWED_HEADER_FAMILIES)


def allowed_request_headers(requested: str | None) -> str:
    """The Access-Control-Allow-Headers value for a preflight's Access-Control-Request-Headers."""
    if not requested or not requested.strip():
        return _DEFAULT_ALLOWED_HEADERS
    names = [name.strip().lower() for name in requested.split(",") if name.strip()]
    return ", ".join(name for name in names if allowed_request_header(name))


@dataclass(frozen=True)
class CorsPolicy:
    origins: frozenset[str]
    any_origin: bool = False

    @classmethod
    def parse(cls, value: str | None) -> CorsPolicy:
        """Comma-separated origins ("https://app.example.com, http://localhost:5173") or "*"."""
        items = [item.strip().rstrip("/") for item in (value or "").split(",") if item.strip()]
        return cls(frozenset(i for i in items if _ORIGIN.match(i)), any_origin="*" in items)

    def allows(self, origin: str | None) -> bool:
        if not origin:
            return False
        return self.any_origin or origin in self.origins

    def response_headers(self, origin: str | None) -> dict[str, str]:
        """Headers for an actual response; empty when the origin is not allowed (or absent)."""
        if not self.allows(origin):
            return {}
        return {
            "access-control-allow-origin": "*" if self.any_origin else str(origin),
            "access-control-expose-headers": _EXPOSED_HEADERS,
            "vary": "Origin",
        }

    def preflight_headers(self, origin: str | None, requested_headers: str | None = None) -> dict[str, str]:
        headers = self.response_headers(origin)
        if headers:
            headers.update({
                "access-control-allow-methods": "GET, HEAD, POST, DELETE, OPTIONS",
                "access-control-allow-headers": allowed_request_headers(requested_headers),
                "access-control-max-age": "600",
                "vary": "Origin, Access-Control-Request-Headers",
            })
        return headers
