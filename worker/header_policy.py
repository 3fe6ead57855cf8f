"""Which headers cross the gateway, in each direction, and why."""

from __future__ import annotations

from collections.abc import Iterable

# RFC 9110 §7.6.1 connection-specific headers: they describe one hop, never the next.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade",
})

# Client credentials are checked at the edge and replaced by the master key; cookies and the
# host belong to the edge, not to LiteLLM.
_DROPPED_REQUEST = HOP_BY_HOP | {"authorization", "x-api-key", "cookie", "host"}

# LiteLLM's x-litellm-* headers reveal upstream URLs, model names and versions; these are the
# ones that say nothing about the inside and help clients correlate calls.
_KEPT_LITELLM = frozenset({"x-litellm-call-id", "x-litellm-attempted-retries", "x-litellm-attempted-fallbacks"})


def forwarded_request_headers(
    headers: Iterable[tuple[str, str]], master_key: str, request_id: str
) -> list[tuple[str, str]]:
    """Headers for the request to LiteLLM: client's minus hop-by-hop and credentials, plus ours."""
    kept = [(name, value) for name, value in headers if name.lower() not in _DROPPED_REQUEST
            and name.lower() != "x-request-id"]
    kept.append(("authorization", f"Bearer {master_key}"))
    kept.append(("x-request-id", request_id))
    return kept


def is_internal_response_header(name: str) -> bool:
    """True for headers LiteLLM adds that leak internals: upstream URLs, provider headers, versions."""
    lower = name.lower()
    if lower in HOP_BY_HOP or lower == "server":
        return True
    if lower.startswith("llm_provider-") or lower.startswith("llm-provider-"):
        return True
    return lower.startswith("x-litellm-") and lower not in _KEPT_LITELLM


def client_response_headers(headers: Iterable[tuple[str, str]], request_id: str) -> list[tuple[str, str]]:
    """Headers for the client: LiteLLM's minus internals, with our request id."""
    kept = [(name, value) for name, value in headers
            if not is_internal_response_header(name) and name.lower() != "x-request-id"]
    kept.append(("x-request-id", request_id))
    return kept
