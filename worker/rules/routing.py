"""What the edge answers itself, what it forwards to LiteLLM, and what does not exist.

Forwarding is an allow-list of OpenAI/Anthropic API paths, each served with and without the `/v1`
prefix (LiteLLM's docs give clients a base URL without it), plus Azure OpenAI's deployment routes.
LiteLLM's own surfaces (`/`, `/openapi.json`, `/routes`, `/ui`, key/user/team management,
`/v1/model/info` which shows upstream URLs, `/openai/*` which passes through to the provider with
the operator's key) are never reachable through the edge, however the path is spelled.
"""

from __future__ import annotations

import re
from enum import Enum
from functools import lru_cache

from rules.errors import Dialect

API_PREFIX = "/v1"
# API paths forwarded to LiteLLM, below API_PREFIX or without it: each matches itself and anything
# below it (e.g. /v1/models/gpt-4o, /v1/messages/count_tokens, /v1/responses/{id}).
FORWARDED_API_PATHS = (
    "/models",
    "/chat/completions",
    "/completions",
    "/embeddings",
    "/messages",
    "/responses",
    "/moderations",
    "/images/generations",
    "/audio/speech",
    "/audio/transcriptions",
    "/rerank",
)
FORWARDED_METHODS = frozenset({"GET", "HEAD", "POST", "DELETE"})  # HEAD: a GET without the body
ANTHROPIC_PATHS = ("/messages",)  # answered in Anthropic's dialect (errors, request-id)

# Azure OpenAI clients (AzureOpenAI, azure_endpoint=...) call /openai/deployments/{model}/<op>
# ?api-version=...; these three operations and nothing else under /openai/ (LiteLLM's pass-through).
_AZURE_DEPLOYMENT = re.compile(r"^/openai/deployments/[^/]+/(chat/completions|completions|embeddings)$")
AZURE_METHODS = frozenset({"POST"})

# One segment: unreserved and sub-delim characters only. No percent-escapes at all, so encoded
# dots and slashes (%2e, %2f, %5c) cannot smuggle a different path past this check.
_SEGMENT = re.compile(r"^[A-Za-z0-9._~:@!$&'()*+,;=-]+\Z")  # \Z: `$` also matches before a final newline


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


def _below(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


@lru_cache(maxsize=1024)  # a request asks up to six times (route, dialect, upstream path) for one path
def _api_path(path: str) -> str | None:
    """The API path without `/v1` and any trailing slash (`/v1/models/` -> `/models`), or None."""
    if not is_canonical_path(path):
        return None
    trimmed = path.rstrip("/") or "/"
    unprefixed = trimmed.removeprefix(API_PREFIX) if _below(trimmed, (API_PREFIX,)) else trimmed
    return unprefixed if _below(unprefixed, FORWARDED_API_PATHS) else None


def is_azure_path(path: str) -> bool:
    return is_canonical_path(path) and _AZURE_DEPLOYMENT.match(path.rstrip("/")) is not None


def is_forwarded_path(path: str) -> bool:
    return _api_path(path) is not None or is_azure_path(path)


def upstream_path(path: str) -> str:
    """The path LiteLLM is asked for: API paths always with `/v1` and without a trailing slash (one form
    upstream, whatever the client's base URL), Azure deployment routes as sent but without a trailing slash
    either. Only for forwarded paths."""
    api_path = _api_path(path)
    if api_path is None:
        return path.rstrip("/") if is_azure_path(path) else path
    return API_PREFIX + api_path  # no trailing slash: LiteLLM would redirect to its own origin


# OpenAI streams whose usage comes as a last chunk when `stream_options.include_usage` is set.
USAGE_CHUNK_PATHS = ("/v1/chat/completions", "/v1/completions")


def model_in_path(path: str) -> str | None:
    """The model an Azure deployment route names (`/openai/deployments/{model}/…`); None elsewhere."""
    return path.split("/")[3] if is_azure_path(path) else None


def dialect_for(path: str) -> Dialect:
    """Anthropic for the Messages API (`/v1/messages*`, `/messages*`), OpenAI for everything else."""
    api_path = _api_path(path)
    return Dialect.ANTHROPIC if api_path is not None and _below(api_path, ANTHROPIC_PATHS) else Dialect.OPENAI


def classify(method: str, path: str) -> Route:
    """Maps a request line to a route; the path is the URL's path, without the query."""
    method = method.upper() if method.isascii() else method  # "po\u017ft".upper() == "POST": no look-alikes
    if path in ("/", "/health"):
        if method in ("GET", "HEAD"):
            return Route.ROOT if path == "/" else Route.HEALTH
        return Route.METHOD_NOT_ALLOWED
    if not is_forwarded_path(path):
        return Route.NOT_FOUND
    if method == "OPTIONS":
        return Route.PREFLIGHT
    allowed = AZURE_METHODS if is_azure_path(path) else FORWARDED_METHODS
    return Route.FORWARD if method in allowed else Route.METHOD_NOT_ALLOWED
