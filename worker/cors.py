"""CORS for browser clients: only origins the operator lists in CORS_ALLOWED_ORIGINS (none by default)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Headers SDKs send from browsers (OpenAI, Anthropic) plus ours.
_ALLOWED_REQUEST_HEADERS = (
    "authorization, content-type, x-api-key, x-request-id, x-session-affinity, anthropic-version, "
    "anthropic-beta, anthropic-dangerous-direct-browser-access, openai-beta, openai-organization, "
    "openai-project, x-stainless-arch, x-stainless-lang, x-stainless-os, x-stainless-package-version, "
    "x-stainless-retry-count, x-stainless-runtime, x-stainless-runtime-version, x-stainless-timeout"
)
_EXPOSED_HEADERS = "x-request-id, retry-after, x-ratelimit-remaining-requests, x-ratelimit-remaining-tokens"
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")


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

    def preflight_headers(self, origin: str | None) -> dict[str, str]:
        headers = self.response_headers(origin)
        if headers:
            headers.update({
                "access-control-allow-methods": "GET, POST, DELETE, OPTIONS",
                "access-control-allow-headers": _ALLOWED_REQUEST_HEADERS,
                "access-control-max-age": "600",
            })
        return headers
