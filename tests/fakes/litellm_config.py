"""The LiteLLM proxy config the test suites run: every model group points at the fake provider.

No ``mock_response`` anywhere: each request goes through LiteLLM's real provider code (``openai/``,
``text-completion-openai/``, ``anthropic/``) to the fake, which decides what to do from the upstream
model name (see ``behaviours.behaviour_for``).
"""

from __future__ import annotations

from typing import Any

import yaml

DUMMY_OPENAI_KEY = "sk-fake-upstream"
DUMMY_ANTHROPIC_KEY = "sk-ant-fake-upstream"

# Seconds a deployment may take before LiteLLM gives up; only `hanger` relies on it.
HANG_TIMEOUT_S = 1.0
# Generous bound for everything else (the fake's `slow` default is 2 s and must succeed).
DEFAULT_TIMEOUT_S = 10.0
# Retries per failing request. One retry keeps `broken` well under 5 s (see container_test_env) while
# still exercising LiteLLM's retry path before a fallback is taken.
NUM_RETRIES = 1


def _openai(upstream: str, base: str, **extra: Any) -> dict[str, Any]:
    return {"model": f"openai/{upstream}", "api_base": f"{base}/v1", "api_key": DUMMY_OPENAI_KEY, **extra}


def _group(name: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": params}


def model_list(fake_base_url: str) -> list[dict[str, Any]]:
    """The model groups, by client-facing name; the comment on each says what the fake does with it."""
    base = fake_base_url.rstrip("/")
    return [
        _group("gpt-4o-mini", _openai("gpt-4o-mini", base)),  # normal echo
        _group("gpt-4o", _openai("gpt-4o", base)),  # normal echo
        # Native Anthropic translation: LiteLLM appends /v1/messages to api_base itself.
        _group(
            "claude-3-5-sonnet",
            {
                "model": "anthropic/claude-3-5-sonnet-20241022",
                "api_base": base,
                "api_key": DUMMY_ANTHROPIC_KEY,
            },
        ),
        _group("text-embedding-3-small", _openai("text-embedding-3-small", base)),
        # The text-completion-openai/ prefix makes LiteLLM call /v1/completions (not chat) upstream.
        _group(
            "gpt-3.5-turbo-instruct",
            {
                "model": "text-completion-openai/gpt-3.5-turbo-instruct",
                "api_base": f"{base}/v1",
                "api_key": DUMMY_OPENAI_KEY,
            },
        ),
        _group("flaky", _openai("gpt-fail-500", base)),  # always 500; router falls back to `backup`
        _group("backup", _openai("gpt-backup", base)),  # normal echo
        _group("broken", _openai("gpt-fail-500", base)),  # always 500, no fallback
        _group("limited", _openai("gpt-fail-429", base)),  # always 429 + Retry-After: 7, no fallback
        _group("pair", _openai("gpt-pair-a", base)),  # two deployments, shuffled
        _group("pair", _openai("gpt-pair-b", base)),
        _group("slow-stream", _openai("gpt-delay300", base)),  # 300 ms between stream chunks
        _group("hanger", _openai("gpt-hang", base, timeout=HANG_TIMEOUT_S, stream_timeout=HANG_TIMEOUT_S)),
        _group("cutter", _openai("gpt-cut", base)),  # stream: 2 chunks, then the connection drops
        _group("slowpoke", _openai("gpt-slow", base)),  # answers after the fake's --slow-ms (2 s)
        # For tests/e2e/test_keys_models.py, whose calls fail on purpose (LiteLLM may then cool a group down):
        # a transcription reaches the fake, which has no audio API (LiteLLM answers 400);
        _group("transcriber", _openai("gpt-transcriber", base)),
        # the Responses API through LiteLLM's bridge to Messages (GET/DELETE of a stored one: unsupported);
        _group("claude-keeper", {"model": "anthropic/claude-keeper", "api_base": base, "api_key": DUMMY_ANTHROPIC_KEY}),
        # a transcription on an anthropic/ model: LiteLLM answers with a Python traceback in its message.
        _group("claude-listener",
               {"model": "anthropic/claude-listener", "api_base": base, "api_key": DUMMY_ANTHROPIC_KEY}),
    ]


def render_test_config(fake_base_url: str, *, extra_router_settings: dict[str, Any] | None = None) -> str:
    """LiteLLM proxy YAML for the e2e suite, every deployment aimed at the fake provider at `fake_base_url`.

    Model groups (client-facing name -> upstream model the fake sees):
      gpt-4o-mini, gpt-4o -> same name (openai/), echo; claude-3-5-sonnet -> claude-3-5-sonnet-20241022
      (anthropic/, native Messages API); text-embedding-3-small (openai/ embeddings);
      gpt-3.5-turbo-instruct (text-completion-openai/, hits /v1/completions);
      flaky -> gpt-fail-500 with fallback to backup -> gpt-backup; broken -> gpt-fail-500, no fallback;
      limited -> gpt-fail-429, no fallback (LiteLLM answers 429 but relays the fake's Retry-After only as
      ``llm_provider-retry-after: 7``; there is no plain Retry-After); pair -> gpt-pair-a + gpt-pair-b (simple-shuffle);
      slow-stream -> gpt-delay300; hanger -> gpt-hang (1 s timeout); cutter -> gpt-cut;
      slowpoke -> gpt-slow; transcriber -> gpt-transcriber, claude-keeper and claude-listener (anthropic/):
      for the cases of tests/e2e/test_keys_models.py that fail on purpose.

    Bounded failure time needs env vars that the config cannot set: pass ``container_test_env()`` to the
    LiteLLM process (it shortens the retry back-off and its jitter).
    """
    router_settings: dict[str, Any] = {
        "routing_strategy": "simple-shuffle",
        "num_retries": NUM_RETRIES,
        "timeout": DEFAULT_TIMEOUT_S,
        "fallbacks": [{"flaky": ["backup"]}],
        # A 429 carries Retry-After: 7 and LiteLLM would sleep that long before retrying the same
        # deployment; rate limits are for the client to handle, so they are never retried here.
        "retry_policy": {"RateLimitErrorRetries": 0},
    }
    router_settings.update(extra_router_settings or {})
    config = {
        "model_list": model_list(fake_base_url),
        "router_settings": router_settings,
        "litellm_settings": {"drop_params": True},
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }
    return yaml.safe_dump(config, sort_keys=False)


def container_test_env() -> dict[str, str]:
    """Env vars the LiteLLM process needs next to ``render_test_config`` (besides LITELLM_MASTER_KEY).

    - LITELLM_LOCAL_MODEL_COST_MAP=True: no model price map download at boot (there is no internet).
    - INITIAL_RETRY_DELAY / MAX_RETRY_DELAY / JITTER: LiteLLM's retry back-off (defaults 0.5 s doubling,
      8 s cap, plus up to 0.75 s random jitter). Shortened so `broken` fails fast and `flaky` falls back fast.
    """
    return {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "INITIAL_RETRY_DELAY": "0.1",
        "MAX_RETRY_DELAY": "0.5",
        "JITTER": "0.05",
    }
