"""The gateway's configuration, read once per isolate from the Worker's env (vars and secrets).

Every knob an operator can turn is listed here with its default; wrangler.jsonc documents them too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from durations import parse_duration_ms
from rules.auth import DEFAULT_MASTER_KEY, container_key
from rules.body_limit import DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_MAX_REQUEST_BYTES
from rules.cors import CorsPolicy

VERSION = "0.1.0"

DEFAULT_READY_TIMEOUT = "60s"  # a 1/2-vCPU boot of LiteLLM takes ~10 s, 1/4 vCPU ~20 s
DEFAULT_SLEEP_AFTER = "10m"  # same default as @cloudflare/containers
DEFAULT_MAX_REQUEST_SECONDS = 600  # absolute deadline of one proxied request; also caps client `timeout`s
DEFAULT_STREAM_IDLE_SECONDS = 300  # a response body silent this long is ended (reasoning models think long)
DEFAULT_MAX_NUM_RETRIES = 2  # cap on a client's `num_retries` / `max_retries`

# Names the Durable Object passes into the container's environment when the Worker has them.
# An explicit list: the Worker's env also holds things LiteLLM must never see.
CONTAINER_ENV_NAMES = (
    "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_API_KEY", "AZURE_API_BASE", "AZURE_API_VERSION",
    "GEMINI_API_KEY", "MISTRAL_API_KEY", "GROQ_API_KEY", "OPENROUTER_API_KEY", "DEEPSEEK_API_KEY",
    "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_USERNAME", "REDIS_SSL",
    "DEMO_MODELS", "LITELLM_NUM_WORKERS", "LITELLM_LOG",
)

# Secrets the Worker itself reads (`wrangler secret put` in a deployment; the local runtime takes them from the
# environment or .dev.vars, asking this module for the list).
WORKER_SECRETS = ("LITELLM_MASTER_KEY", "KEY_MARK_SECRET", "LITELLM_UPSTREAM_URL", "LITELLM_UPSTREAM_KEY")

_HTTP_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")

Lookup = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Settings:
    master_key: str  # what clients present
    master_key_is_default: bool
    container_key: str  # what LiteLLM is started with and sent (auth.container_key)
    max_request_bytes: int
    max_buffered_bytes: int  # JSON request bodies one isolate holds at once (body_limit.BufferedBytes)
    key_mark_secret: str | None  # signs the keys the gateway issues (keys.material); None: issued unmarked
    ready_timeout_ms: int
    sleep_after_ms: int
    max_request_seconds: int
    stream_idle_seconds: int
    max_num_retries: int
    log_level: str
    cors: CorsPolicy
    instances: int
    min_warm_instances: int  # instances never idle-stopped (litellm-0 .. litellm-(N-1))
    upstream_url: str | None  # an existing LiteLLM to front when no container is bound
    upstream_key: str  # its master key (LITELLM_UPSTREAM_KEY, else LITELLM_MASTER_KEY)
    problems: tuple[str, ...] = field(default=())  # invalid vars replaced by defaults, for one warning

    @classmethod
    def from_lookup(cls, lookup: Lookup) -> Settings:
        problems: list[str] = []

        def duration(name: str, default: str) -> int:
            raw = lookup(name)
            try:
                return parse_duration_ms(raw if raw is not None else default)
            except ValueError:
                problems.append(f"{name} is not a duration; using {default}")
                return parse_duration_ms(default)

        def whole_number(name: str, default: int, minimum: int = 1) -> int:
            raw = lookup(name)
            if raw is None:
                return default
            text = str(raw).strip()
            if text.isdigit() and int(text) >= minimum:
                return int(text)
            problems.append(f"{name} is not an integer >= {minimum}; using {default}")
            return default

        key = lookup("LITELLM_MASTER_KEY") or ""
        upstream = (lookup("LITELLM_UPSTREAM_URL") or "").strip().rstrip("/") or None
        if upstream is not None and not _HTTP_URL.match(upstream):
            problems.append("LITELLM_UPSTREAM_URL is not an http(s) URL without query; ignoring it")
            upstream = None
        return cls(
            master_key=key or DEFAULT_MASTER_KEY,
            master_key_is_default=not key,
            container_key=container_key(key or DEFAULT_MASTER_KEY),
            max_request_bytes=whole_number("MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES),
            max_buffered_bytes=whole_number("MAX_BUFFERED_BYTES", DEFAULT_MAX_BUFFERED_BYTES),
            key_mark_secret=lookup("KEY_MARK_SECRET") or None,
            max_request_seconds=whole_number("MAX_REQUEST_SECONDS", DEFAULT_MAX_REQUEST_SECONDS),
            stream_idle_seconds=whole_number("STREAM_IDLE_SECONDS", DEFAULT_STREAM_IDLE_SECONDS),
            max_num_retries=whole_number("MAX_NUM_RETRIES", DEFAULT_MAX_NUM_RETRIES, minimum=0),
            ready_timeout_ms=duration("READY_TIMEOUT", DEFAULT_READY_TIMEOUT),
            sleep_after_ms=duration("SLEEP_AFTER", DEFAULT_SLEEP_AFTER),
            log_level=(lookup("LOG_LEVEL") or "info").lower(),
            cors=CorsPolicy.parse(lookup("CORS_ALLOWED_ORIGINS")),
            instances=whole_number("CONTAINER_INSTANCES", 1),
            min_warm_instances=whole_number("MIN_WARM_INSTANCES", 0, minimum=0),
            upstream_url=upstream,
            upstream_key=lookup("LITELLM_UPSTREAM_KEY") or key or DEFAULT_MASTER_KEY,
            problems=tuple(problems),
        )


_isolate_settings: Settings | None = None


def isolate_settings(lookup: Lookup) -> Settings:
    """The settings, read on an isolate's first request and kept: vars and secrets change only with a new
    deployment, and a deployment starts new isolates. (Read per request, they cost ~0.1 ms of CPU twice.)"""
    global _isolate_settings
    if _isolate_settings is None:
        _isolate_settings = Settings.from_lookup(lookup)
    return _isolate_settings


def container_env(lookup: Lookup, container_key: str) -> dict[str, str]:
    """The environment LiteLLM starts with: its own key, provider keys present, offline cost map."""
    env = {"LITELLM_MASTER_KEY": container_key, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    for name in CONTAINER_ENV_NAMES:
        value = lookup(name)
        if value:
            env[name] = str(value)
    return env
