"""What the edge answers itself, what it forwards to LiteLLM, and what does not exist.

Forwarding is an allow-list of OpenAI/Anthropic API paths. LiteLLM's own surfaces (`/`,
`/openapi.json`, `/routes`, `/ui`, key/user/team management, `/v1/model/info` which shows upstream
URLs) are never reachable through the edge, however the path is spelled.
"""

from __future__ import annotations

import re
from enum import Enum

# API paths forwarded to LiteLLM: each entry matches itself and anything below it
# (e.g. /v1/models/gpt-4o, /v1/messages/count_tokens, /v1/responses/{id}).
FORWARDED_PREFIXES = (
    "/v1/models",
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/messages",
    "/v1/responses",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/audio/speech",
    "/v1/audio/transcriptions",
    "/v1/rerank",
)
FORWARDED_METHODS = frozenset({"GET", "POST", "DELETE"})

# One segment: unreserved and sub-delim characters only. No percent-escapes at all, so encoded
# dots and slashes (%2e, %2f, %5c) cannot smuggle a different path past this check.
_SEGMENT = re.compile(r"^[A-Za-z0-9._~:@!$&'()*+,;=-]+$")


class Route(Enum):
    ROOT = "root"  # GET /: tiny liveness answer
    HEALTH = "health"  # GET /health: detailed status, never starts a container
    PREFLIGHT = "preflight"  # OPTIONS for CORS
    FORWARD = "forward"  # an allow-listed API path: auth, then the Durable Object
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_FOUND = "not_found"


def is_canonical_path(path: str) -> bool:
    """True for a plain absolute path: no empty, dot, or escaped segments (a trailing slash is fine)."""
    if not path.startswith("/"):
        return False
    segments = path[1:].split("/")
    if segments and segments[-1] == "":
        segments = segments[:-1]
    return all(seg not in (".", "..") and _SEGMENT.match(seg) for seg in segments)


def is_forwarded_path(path: str) -> bool:
    if not is_canonical_path(path):
        return False
    trimmed = path.rstrip("/") or "/"
    return any(trimmed == prefix or trimmed.startswith(prefix + "/") for prefix in FORWARDED_PREFIXES)


def classify(method: str, path: str) -> Route:
    """Maps a request line to a route; the path is the URL's path, without the query."""
    method = method.upper()
    if path in ("/", "/health"):
        if method in ("GET", "HEAD"):
            return Route.ROOT if path == "/" else Route.HEALTH
        return Route.METHOD_NOT_ALLOWED
    if not is_forwarded_path(path):
        return Route.NOT_FOUND
    if method == "OPTIONS":
        return Route.PREFLIGHT
    if method not in FORWARDED_METHODS:
        return Route.METHOD_NOT_ALLOWED
    return Route.FORWARD
