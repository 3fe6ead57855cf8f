"""Which headers cross the gateway, in each direction, and why."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from rules.auth import CREDENTIAL_HEADERS

# Retry-After is seconds or an HTTP date (RFC 9110 §10.2.3); anything else is not passed on.
_RETRY_AFTER = re.compile(r"^(\d{1,6}|[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT)$")

# RFC 9110 §7.6.1 connection-specific headers: they describe one hop, never the next.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade",
})

# Client credentials are checked at the edge and replaced by the master key; cookies and the
# host belong to the edge, not to LiteLLM. Who the caller is comes from the platform, never from the
# caller: LiteLLM trusts X-Forwarded-For, so every client-sent address header goes.
_CALLER_ADDRESS = "cf-connecting-ip"  # set by Cloudflare's edge (and the local runtime) from the socket
_DROPPED_REQUEST = HOP_BY_HOP | {
    *CREDENTIAL_HEADERS, "cookie", "host", "accept-encoding",
    "forwarded", "x-real-ip", "true-client-ip", "x-client-ip", _CALLER_ADDRESS,
}
# x-litellm-* steer LiteLLM itself (x-litellm-num-retries, x-litellm-timeout, x-litellm-api-key, …).
_DROPPED_REQUEST_PREFIXES = ("x-forwarded-", "x-litellm-", "x-gateway-")  # x-gateway-*: edge -> DO only

# LiteLLM's x-litellm-* headers reveal upstream URLs, model names and versions; these are the
# ones that say nothing about the inside and help clients correlate calls. (x-litellm-response-cost is
# read by the Durable Object for the booking, from LiteLLM's own headers, and never passed on.)
_KEPT_LITELLM = frozenset({"x-litellm-call-id", "x-litellm-attempted-retries", "x-litellm-attempted-fallbacks"})


def forwarded_request_headers(
    headers: Iterable[tuple[str, str]], litellm_key: str, request_id: str
) -> list[tuple[str, str]]:
    """Headers for the request to LiteLLM: client's minus hop-by-hop, credentials and steering, plus ours."""
    kept: list[tuple[str, str]] = []
    caller: str | None = None
    for name, value in headers:
        lower = name.lower()
        if lower == _CALLER_ADDRESS:
            caller = value
        if lower not in _DROPPED_REQUEST and not lower.startswith(_DROPPED_REQUEST_PREFIXES) \
                and lower != "x-request-id":
            kept.append((name, value))
    if caller:
        kept.append(("x-forwarded-for", caller))
    kept.append(("authorization", f"Bearer {litellm_key}"))
    # Plain bytes from LiteLLM: runtimes that decode compressed bodies on fetch (Node's, workerd's)
    # would otherwise pass on a Content-Encoding that no longer matches the body.
    kept.append(("accept-encoding", "identity"))
    kept.append(("x-request-id", request_id))
    return kept


def is_internal_response_header(name: str) -> bool:
    """True for headers LiteLLM adds that leak internals: upstream URLs, provider headers, versions."""
    lower = name.lower()
    if lower in HOP_BY_HOP or lower == "server":
        return True
    if lower.startswith(("llm_provider-", "llm-provider-")):
        return True
    if lower.startswith("access-control-"):
        return True  # LiteLLM allows every origin; CORS is the edge's decision (CORS_ALLOWED_ORIGINS)
    return lower.startswith("x-litellm-") and lower not in _KEPT_LITELLM


def client_response_headers(headers: Iterable[tuple[str, str]], request_id: str) -> list[tuple[str, str]]:
    """Headers for the client: LiteLLM's minus internals, with our request id.

    LiteLLM relays a provider's Retry-After only as `llm_provider-retry-after`; clients (and the
    OpenAI/Anthropic SDKs' back-off) read plain `Retry-After`, so it is promoted when missing.
    """
    kept: list[tuple[str, str]] = []
    provider_retry_after: str | None = None
    for name, value in headers:
        lower = name.lower()
        if lower == "llm_provider-retry-after" and _RETRY_AFTER.match(value.strip()):
            provider_retry_after = value.strip()
        if lower == "location":
            kept.append((name, _relative(value)))
        elif not is_internal_response_header(name) and lower != "x-request-id":
            kept.append((name, value))
    if provider_retry_after and not any(name.lower() == "retry-after" for name, _ in kept):
        kept.append(("retry-after", provider_retry_after))
    kept.append(("x-request-id", request_id))
    return kept


def _relative(location: str) -> str:
    """A redirect target without scheme and host: LiteLLM builds them from the origin it was called on,
    which is the container's (or the upstream's) and never the client's business."""
    parts = urlsplit(location.strip())
    return parts._replace(scheme="", netloc="").geturl() or "/"
