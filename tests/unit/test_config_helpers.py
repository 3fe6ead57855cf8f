import json

import pytest

import settings
from durations import format_duration_ms, parse_duration_ms
from rules.body_limit import ByteBudget, Declared, judge_declared_length
from rules.cors import CorsPolicy
from rules.errors import container_starting, invalid_api_key, not_found, request_too_large
from rules.instances import instance_names, pick_instance
from settings import CONTAINER_ENV_NAMES, Settings, container_env, isolate_settings


@pytest.mark.parametrize(
    ("text", "ms"), [("500ms", 500), ("20s", 20_000), ("10m", 600_000), ("1h", 3_600_000), ("2.5s", 2500),
                     ("30", 30_000), (" 15s ", 15_000)],
)
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "ten", "10 minutes", "-5s", "5d", "s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration_ms(text)


def test_format_duration_round_trips() -> None:
    for ms in (500, 1000, 20_000, 90_000, 600_000, 3_600_000):
        assert parse_duration_ms(format_duration_ms(ms)) == ms
    assert format_duration_ms(90_000) == "90s"


def test_settings_defaults_and_overrides() -> None:
    default = Settings.from_lookup(lambda name: None)
    assert default.master_key == "sk-1234" and default.master_key_is_default
    assert default.max_request_bytes == 10 * 1024 * 1024
    assert default.sleep_after_ms == 600_000 and default.ready_timeout_ms == 60_000
    assert default.instances == 1 and default.problems == ()
    values = {"LITELLM_MASTER_KEY": "sk-real", "MAX_REQUEST_BYTES": "1024", "SLEEP_AFTER": "2s",
              "READY_TIMEOUT": "bogus", "CONTAINER_INSTANCES": "0", "LOG_LEVEL": "DEBUG"}
    custom = Settings.from_lookup(values.get)
    assert custom.master_key == "sk-real" and not custom.master_key_is_default
    assert custom.container_key not in ("sk-real", default.container_key)
    assert custom.max_request_bytes == 1024 and custom.sleep_after_ms == 2000
    assert custom.ready_timeout_ms == 60_000 and custom.instances == 1
    assert custom.log_level == "debug"
    assert len(custom.problems) == 2  # READY_TIMEOUT and CONTAINER_INSTANCES fell back to defaults


def test_settings_are_read_once_per_isolate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "_isolate_settings", None)
    reads: list[str] = []

    def lookup(name: str) -> str | None:
        reads.append(name)
        return "7" if name == "MAX_REQUEST_SECONDS" else None

    first = isolate_settings(lookup)
    count = len(reads)
    assert first.max_request_seconds == 7 and count > 0
    assert isolate_settings(lookup) is first and len(reads) == count  # no env read on later requests


def test_container_env_passes_only_listed_names() -> None:
    values = {"OPENAI_API_KEY": "sk-o", "ANTHROPIC_API_KEY": "", "CLOUDFLARE_API_TOKEN": "secret",
              "LITELLM_MASTER_KEY": "ignored-here"}
    env = container_env(values.get, "sk-derived")
    assert env == {"LITELLM_MASTER_KEY": "sk-derived", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                   "OPENAI_API_KEY": "sk-o"}
    assert "CLOUDFLARE_API_TOKEN" not in CONTAINER_ENV_NAMES


def test_declared_length() -> None:
    assert judge_declared_length(None, 10) is Declared.UNKNOWN
    assert judge_declared_length("10", 10) is Declared.WITHIN
    assert judge_declared_length("11", 10) is Declared.TOO_LARGE
    assert judge_declared_length("-1", 10) is Declared.INVALID
    assert judge_declared_length("1e3", 10) is Declared.INVALID


def test_byte_budget() -> None:
    budget = ByteBudget(10)
    assert budget.consume(6) and budget.consume(4)
    assert not budget.consume(1)
    assert budget.exceeded and budget.seen == 11


def test_cors_policy() -> None:
    none = CorsPolicy.parse("")
    assert none.response_headers("https://app.example.com") == {}
    policy = CorsPolicy.parse("https://app.example.com, http://localhost:5173/")
    assert policy.response_headers("https://app.example.com")["access-control-allow-origin"] == (
        "https://app.example.com")
    assert policy.allows("http://localhost:5173")
    assert not policy.allows("https://evil.example.com") and not policy.allows(None)
    assert "authorization" in policy.preflight_headers("https://app.example.com")["access-control-allow-headers"]
    assert CorsPolicy.parse("*").response_headers("https://x.dev")["access-control-allow-origin"] == "*"


def test_error_bodies_are_openai_shaped() -> None:
    for error in (invalid_api_key(), not_found("/x"), request_too_large(5), container_starting(7)):
        body = json.loads(error.body())
        assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert invalid_api_key().status == 401 and invalid_api_key().headers()["www-authenticate"].startswith("Bearer")
    assert container_starting(7).headers()["retry-after"] == "7"
    assert request_too_large(5).status == 413


def test_instances_sticky_and_spread() -> None:
    assert instance_names(3) == ["litellm-0", "litellm-1", "litellm-2"]
    assert pick_instance(1, "anything") == "litellm-0"
    assert {pick_instance(4, "user-42") for _ in range(20)} == {pick_instance(4, "user-42")}
    assert len({pick_instance(4, f"user-{i}") for i in range(200)}) == 4
    spread = [pick_instance(3, None) for _ in range(300)]
    assert {spread.count(name) for name in instance_names(3)} == {100}


def test_upstream_url_settings() -> None:
    none = Settings.from_lookup(lambda name: None)
    assert none.upstream_url is None and none.upstream_key == "sk-1234"
    values = {"LITELLM_UPSTREAM_URL": "https://litellm.internal.example.com/", "LITELLM_MASTER_KEY": "sk-edge"}
    fronting = Settings.from_lookup(values.get)
    assert fronting.upstream_url == "https://litellm.internal.example.com"
    assert fronting.upstream_key == "sk-edge"  # falls back to the master key
    assert Settings.from_lookup({**values, "LITELLM_UPSTREAM_KEY": "sk-up"}.get).upstream_key == "sk-up"
    for bad in ("ftp://x", "not a url", "http://host/path?q=1", "http://"):
        broken = Settings.from_lookup({"LITELLM_UPSTREAM_URL": bad}.get)
        assert broken.upstream_url is None and broken.problems


def test_siblings_and_the_warm_floor() -> None:
    from rules.instances import is_warm_floor, siblings

    assert siblings("litellm-1", 3) == ["litellm-2", "litellm-0"] and siblings("litellm-0", 1) == []
    assert is_warm_floor("litellm-0", 1) and not is_warm_floor("litellm-1", 1)
    assert not is_warm_floor("litellm-0", 0) and not is_warm_floor(None, 3) and not is_warm_floor("other-0", 3)
