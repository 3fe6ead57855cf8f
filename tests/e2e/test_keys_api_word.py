"""The key API keeps its word, over HTTP: a period too long is refused before anything is stored, concurrent
regenerations of one key make one key, restrictions the gateway does not enforce are refused (their
defaults, as LiteLLM's own CLI sends them, pass), and a key reads its own budget and spend.

Runs on the shared gateway; each case makes its own keys (team ids carry a per-run suffix).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from keys.material import token_of
from tests.e2e.assertions import openai_error
from tests.e2e.keys_admin import KeyAdmin, together
from tests.harness import Gateway

RUN = uuid.uuid4().hex[:8]
LITELLM_CLI = Path(sys.executable).parent / "litellm-proxy"


@pytest.fixture(scope="module")
def admin(gateway: Gateway) -> KeyAdmin:
    return KeyAdmin(gateway)


def team_tokens(admin: KeyAdmin, team: str) -> list[str]:
    answer = admin.call("GET", "/key/list", params={"team_id": team})
    assert answer.status_code == 200, answer.text
    return answer.json()["keys"]


@pytest.mark.parametrize("field", ["duration", "budget_duration"])
def test_a_period_too_long_is_400_and_stores_nothing(admin: KeyAdmin, field: str) -> None:
    team = f"period-{field}-{RUN}"
    refused = admin.call("POST", "/key/generate", json={field: "999999w", "team_id": team})
    assert refused.status_code == 400 and openai_error(refused)["param"] == field, refused.text
    assert team_tokens(admin, team) == []
    key = admin.generate(team_id=team, **{field: "30d"})
    before = admin.info(key)
    update = admin.call("POST", "/key/update", json={"key": key, field: "999999w"})
    assert update.status_code == 400 and openai_error(update)["param"] == field, update.text
    assert admin.info(key) == before
    full = admin.call("GET", "/key/list", params={"team_id": team, "return_full_object": "true"})
    assert full.status_code == 200 and [row["token"] for row in full.json()["keys"]] == [token_of(key)], full.text
    assert admin.call("POST", "/key/block", json={"key": key}).status_code == 200


def test_concurrent_regenerations_make_one_working_key(admin: KeyAdmin) -> None:
    team = f"regen-{RUN}"
    key = admin.generate(team_id=team, max_budget=5)  # no alias: the directory's alias check cannot save it
    assert admin.chat(key, "regen-before").status_code == 200
    admin.wait_booked(token_of(key), 1)

    def regenerate(index: int) -> object:
        if index % 2:
            return admin.call("POST", f"/key/{key}/regenerate", json={})
        return admin.call("POST", "/key/regenerate", json={"key": key})

    answers = together(4, regenerate)  # type: ignore[arg-type]
    assert sorted(answer.status_code for answer in answers) == [200, 404, 404, 404], [a.text for a in answers]
    assert all(openai_error(a)["code"] == "not_found" for a in answers if a.status_code == 404)
    new = next(answer.json() for answer in answers if answer.status_code == 200)
    assert team_tokens(admin, team) == [new["token"]]
    assert admin.chat(key, "regen-old").status_code == 401
    assert admin.chat(new["key"], "regen-new").status_code == 200
    ledger = admin.wait_booked(new["token"], 2)  # the old key's request moved with it, once
    assert ledger["requests"] == 2 and admin.ledger(token_of(key))["requests"] == 0


@pytest.mark.parametrize(("field", "value"), [
    ("allowed_routes", ["/v1/embeddings"]), ("enforced_params", ["user"]), ("guardrails", ["pii-mask"]),
    ("permissions", {"get_spend_routes": False}), ("aliases", {"gpt-4": "gpt-4o-mini"}), ("soft_budget", 2.5),
    ("config", {"temperature": 0}), ("tags", ["team-a"]),
])
def test_a_restriction_not_enforced_is_400_naming_it(admin: KeyAdmin, field: str, value: object) -> None:
    team = f"unenforced-{field}-{RUN}"
    answer = admin.call("POST", "/key/generate", json={field: value, "team_id": team})
    assert answer.status_code == 400 and openai_error(answer)["param"] == field, answer.text
    assert team_tokens(admin, team) == []
    key = admin.generate()
    update = admin.call("POST", "/key/update", json={"key": key, "metadata": {field: value}})
    assert update.status_code == 400 and openai_error(update)["param"] == f"metadata.{field}", update.text


def litellm_cli(gateway: Gateway, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(tmp_path), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run([str(LITELLM_CLI), "--base-url", gateway.url, "--api-key", gateway.key, "keys",
                           "generate", *args], env=env, capture_output=True, text=True, timeout=120)


def test_litellms_own_cli_generates_with_its_defaults_and_is_refused_a_restriction(
        admin: KeyAdmin, tmp_path: Path) -> None:
    if not LITELLM_CLI.exists():
        pytest.skip("litellm-proxy (LiteLLM's CLI) is not installed next to this Python")
    made = litellm_cli(admin.gateway, tmp_path, "--models", "gpt-4o-mini", "--spend", "0", "--aliases", "{}",
                       "--config", "{}", "--duration", "1h", "--team-id", f"cli-{RUN}")
    assert made.returncode == 0, made.stderr
    body = json.loads(made.stdout)
    assert body["models"] == ["gpt-4o-mini"] and body["spend"] == 0 and body["expires"]
    assert admin.chat(body["key"], "cli-chat").status_code == 200
    refused = litellm_cli(admin.gateway, tmp_path, "--aliases", '{"gpt-4": "gpt-4o-mini"}', "--team-id", f"cli-{RUN}")
    assert refused.returncode != 0 and "HTTP 400" in refused.stderr, (refused.stdout, refused.stderr)
    assert json.loads(refused.stdout)["error"]["param"] == "aliases"
    assert team_tokens(admin, f"cli-{RUN}") == [body["token"]]


def test_a_key_reads_its_own_budget_and_spend_without_naming_itself(admin: KeyAdmin) -> None:
    key = admin.generate(max_budget=0.000001, budget_duration="30d", rpm_limit=50, team_id=f"own-{RUN}")
    assert admin.chat(key, "own-spend " * 40).status_code == 200
    admin.wait_booked(token_of(key), 1)
    own = admin.call("GET", "/key/info", key=key)
    assert own.status_code == 200 and own.json()["key"] == token_of(key), own.text
    info = own.json()["info"]
    assert info["max_budget"] == 0.000001 and info["spend"] > info["max_budget"] and info["rpm_limit"] == 50
    assert info["status"] == "active" and info["budget_reset_at"] and key not in own.text
    assert admin.chat(key, "own-refused").status_code == 429  # spent: refused for chat, still told its spend
    other = admin.generate()
    assert admin.call("GET", "/key/info", key=key, params={"key": other}).status_code == 403
