"""Client credentials: `Authorization: Bearer <key>` (OpenAI SDKs), `x-api-key: <key>` (Anthropic SDK) or
`api-key: <key>` (Azure OpenAI clients)."""

from __future__ import annotations

import hashlib
import hmac

DEFAULT_MASTER_KEY = "sk-1234"
# Every header a client key may arrive in: checked at the edge, never passed on to LiteLLM.
CREDENTIAL_HEADERS = ("authorization", "x-api-key", "api-key")


def presented_key(authorization: str | None, x_api_key: str | None, api_key: str | None = None) -> str | None:
    """The key the client presents, or None when it presents none or a malformed one.

    The first header present wins, in CREDENTIAL_HEADERS order, so a malformed one is never rescued
    by another. The scheme word is case-insensitive (RFC 9110); the token must be one non-empty word.
    """
    if authorization is not None:
        parts = authorization.strip().split()
        if len(parts) != 2 or parts[0].lower() != "bearer":
            return None
        return parts[1]
    for raw in (x_api_key, api_key):
        if raw is not None:
            key = raw.strip()
            return key if len(key.split()) == 1 else None  # one word, as after "Bearer": any whitespace refuses
    return None


def key_matches(presented: str | None, expected: str) -> bool:
    """Constant-time comparison, so response timing does not leak how much of a key was right."""
    if presented is None or not expected:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def container_key(master_key: str) -> str:
    """The key between the Durable Object and LiteLLM, derived from the client-facing master key.

    Clients' key never reaches LiteLLM, and LiteLLM (which refuses to boot with publicly known keys
    such as sk-1234) always gets a strong one. Deterministic, so a container that outlives its
    Durable Object's eviction still accepts the key.
    """
    return "sk-" + hashlib.sha256(f"litellm-router:container:{master_key}".encode()).hexdigest()
