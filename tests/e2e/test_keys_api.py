"""LiteLLM's key API at the edge (issue 11 §1): every endpoint, its bad input, and who may call it.

Runs on the shared gateway: each case makes its own keys (aliases and team ids carry a per-run suffix), so
nothing here depends on what other modules did.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid

import pytest

from keys.admin import MASTER_ALIAS
from keys.material import token_of
from keys.ops import MASTER
from tests.e2e.assertions import openai_error
from tests.e2e.keys_admin import KeyAdmin, bearer
from tests.harness import ROOT, FakeProvider, Gateway

RUN = uuid.uuid4().hex[:8]
ADMIN_ONLY = [("POST", "/key/generate"), ("POST", "/key/update"), ("POST", "/key/delete"), ("GET", "/key/list"),
              ("POST", "/key/block"), ("POST", "/key/unblock"), ("POST", "/key/regenerate"),
              ("GET", "/spend/report")]


@pytest.fixture(scope="module")
def admin(gateway: Gateway) -> KeyAdmin:
    return KeyAdmin(gateway)


def test_generate_shows_the_key_once_and_info_describes_it(admin: KeyAdmin) -> None:
    fields = {"key_alias": f"full-{RUN}", "models": ["gpt-4o-mini"], "rpm_limit": 7, "tpm_limit": 7000,
              "max_parallel_requests": 3, "max_budget": 2.5, "budget_duration": "30d", "duration": "1h",
              "metadata": {"owner": "qa"}, "user_id": "u-1", "team_id": f"t-{RUN}"}
    answer = admin.call("POST", "/key/generate", json=fields)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    key = body["key"]
    assert key.startswith("sk-") and len(key) >= 3 + 43  # 32 random bytes, url-safe base64
    assert body["token"] == hashlib.sha256(key.encode()).hexdigest() and body["key_name"] == f"sk-...{key[-4:]}"
    assert {name: body[name] for name in fields if name != "duration"} == \
        {name: value for name, value in fields.items() if name != "duration"}
    assert body["expires"] and body["budget_reset_at"] and body["spend"] == 0
    by_key, by_token = admin.info(key), admin.info(body["token"])
    assert by_key == by_token and by_key["status"] == "active" and by_key["key_alias"] == f"full-{RUN}"
    assert key not in str(by_key) and key not in admin.call("GET", "/key/list").text


def test_a_key_may_read_its_own_info_and_nothing_else(admin: KeyAdmin) -> None:
    key, other = admin.generate(), admin.generate()
    own = admin.call("GET", "/key/info", key=key)
    assert own.status_code == 200 and own.json()["key"] == token_of(key), own.text
    assert admin.call("GET", "/key/info", key=key, params={"key": key}).status_code == 200
    peek = admin.call("GET", "/key/info", key=key, params={"key": other})
    assert peek.status_code == 403 and openai_error(peek)["code"] == "admin_only"
    for method, path in ADMIN_ONLY:
        refused = admin.call(method, path, key=key, json={} if method == "POST" else None)
        assert refused.status_code == 403, (path, refused.text)
        assert openai_error(refused)["code"] == "admin_only"
    for headers in ({}, bearer("sk-not-a-key-at-all-0000")):
        for method, path in [*ADMIN_ONLY, ("GET", "/key/info")]:
            anonymous = admin.client.request(method, path, headers=headers)
            expected = 401 if not headers or path == "/key/info" else 403
            assert anonymous.status_code == expected, (headers, path, anonymous.text)


def test_wrong_method_is_405(admin: KeyAdmin) -> None:
    assert admin.call("GET", "/key/generate").status_code == 405
    assert admin.call("POST", "/key/info", json={}).status_code == 405


@pytest.mark.parametrize(("method", "path", "payload", "field"), [
    ("POST", "/key/generate", {"rpm_limit": "5"}, "rpm_limit"),
    ("POST", "/key/generate", {"tpm_limit": -1}, "tpm_limit"),
    ("POST", "/key/generate", {"max_parallel_requests": 1.5}, "max_parallel_requests"),
    ("POST", "/key/generate", {"max_budget": -1}, "max_budget"),
    ("POST", "/key/generate", {"models": "gpt-4o-mini"}, "models"),
    ("POST", "/key/generate", {"duration": "soon"}, "duration"),
    ("POST", "/key/generate", {"budget_duration": 30}, "budget_duration"),
    ("POST", "/key/generate", {"metadata": ["x"]}, "metadata"),
    ("POST", "/key/generate", {"blocked": "yes"}, "blocked"),
    ("POST", "/key/generate", {"key_alias": ""}, "key_alias"),
    ("POST", "/key/generate", {"key": "sk-short"}, "key"),
    ("POST", "/key/generate", {"model_rpm_limit": {"gpt-4o": 1}}, "model_rpm_limit"),
    ("POST", "/key/generate", b"not json", "body"),
    ("POST", "/key/generate", [1, 2], "body"),
    ("POST", "/key/update", {"rpm_limit": 1}, "key"),
    ("POST", "/key/update", {"key": "not-a-key", "rpm_limit": 1}, "key"),
    ("POST", "/key/delete", {}, "keys"),
    ("POST", "/key/delete", {"keys": "sk-abc"}, "keys"),
    ("POST", "/key/block", {}, "key"),
    ("POST", "/key/unblock", {"key": 5}, "key"),
    ("POST", "/key/regenerate", {}, "key"),
    ("GET", "/key/info", {}, "key"),
    ("GET", "/key/list", {"size": "0"}, "size"),
    ("GET", "/key/list", {"page": "x"}, "page"),
    ("GET", "/key/list", {"status": "sleeping"}, "status"),
    ("GET", "/spend/report", {"start_date": "yesterday", "end_date": "2026-01-01"}, "start_date"),
    ("GET", "/spend/report", {"start_date": "2026-01-01"}, "end_date"),
    ("GET", "/spend/report", {"start_date": "2026-01-01", "end_date": "2026-01-02", "group_by": "user"},
     "group_by"),
])
def test_bad_input_is_400_naming_the_field(admin: KeyAdmin, method: str, path: str, payload: object,
                                           field: str) -> None:
    if method == "GET":
        answer = admin.call(method, path, params=payload)
    elif isinstance(payload, bytes):
        answer = admin.call(method, path, content=payload, headers={"content-type": "application/json"})
    else:
        answer = admin.call(method, path, json=payload)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == field, answer.text


def test_a_taken_alias_is_400(admin: KeyAdmin) -> None:
    admin.generate(key_alias=f"taken-{RUN}")
    answer = admin.call("POST", "/key/generate", json={"key_alias": f"taken-{RUN}"})
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "key_alias", answer.text


@pytest.mark.parametrize(("method", "path", "payload", "field"), [
    ("GET", "/key/info", {"key": "sk-never-issued-000000"}, "key"),
    ("GET", "/key/info", {"key": "0" * 64}, "key"),
    ("POST", "/key/update", {"key": "sk-never-issued-000000", "rpm_limit": 1}, "key"),
    ("POST", "/key/update", {"key_alias": "no-such-alias", "rpm_limit": 1}, "key_alias"),
    ("POST", "/key/delete", {"keys": ["sk-never-issued-000000"]}, "keys[0]"),
    ("POST", "/key/delete", {"key_aliases": ["no-such-alias"]}, "key_aliases[0]"),
    ("POST", "/key/block", {"key": "sk-never-issued-000000"}, "key"),
    ("POST", "/key/unblock", {"key": "sk-never-issued-000000"}, "key"),
    ("POST", "/key/regenerate", {"key": "sk-never-issued-000000"}, "key"),
])
def test_unknown_keys_are_404(admin: KeyAdmin, method: str, path: str, payload: dict, field: str) -> None:
    answer = admin.call(method, path, **({"params": payload} if method == "GET" else {"json": payload}))
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["param"] == field


def test_update_is_read_by_the_next_request(admin: KeyAdmin, provider: FakeProvider) -> None:
    alias = f"upd-{RUN}"
    key = admin.generate(key_alias=alias, models=["gpt-4o"])
    refused = admin.chat(key, "upd-1")
    assert refused.status_code == 403 and openai_error(refused)["code"] == "model_not_allowed"
    assert "gpt-4o-mini" in openai_error(refused)["message"] and "'gpt-4o'" not in openai_error(refused)["message"]
    updated = admin.call("POST", "/key/update", json={"key": key, "models": ["gpt-4o-mini"], "rpm_limit": 1})
    assert updated.status_code == 200 and updated.json()["models"] == ["gpt-4o-mini"], updated.text
    assert admin.chat(key, "upd-2").status_code == 200
    assert admin.chat(key, "upd-3").status_code == 429
    by_alias = admin.call("POST", "/key/update", json={"key_alias": alias, "rpm_limit": None})
    assert by_alias.status_code == 200 and by_alias.json()["rpm_limit"] is None, by_alias.text
    assert admin.chat(key, "upd-4").status_code == 200
    assert [r["marker"] for r in provider.stats()["requests"]] == ["upd-2", "upd-4"]


def test_list_pages_and_filters(admin: KeyAdmin) -> None:
    team = f"list-{RUN}"
    keys = [admin.generate(team_id=team, key_alias=f"{team}-{n}") for n in range(3)]
    tokens = {token_of(key) for key in keys}
    listing = admin.call("GET", "/key/list", params={"team_id": team}).json()
    assert set(listing["keys"]) == tokens and listing["total_count"] == 3, listing
    first = admin.call("GET", "/key/list", params={"team_id": team, "size": 2}).json()
    second = admin.call("GET", "/key/list", params={"team_id": team, "size": 2, "page": 2}).json()
    assert first["total_pages"] == 2 and len(first["keys"]) == 2 and len(second["keys"]) == 1
    assert set(first["keys"]) | set(second["keys"]) == tokens
    full = admin.call("GET", "/key/list", params={"team_id": team, "return_full_object": "true"}).json()
    assert {item["key_alias"] for item in full["keys"]} == {f"{team}-{n}" for n in range(3)}
    assert admin.call("GET", "/key/list", params={"key_alias": f"{team}-1"}).json()["keys"] == [token_of(keys[1])]
    assert admin.call("POST", "/key/block", json={"key": keys[0]}).status_code == 200
    assert admin.call("POST", "/key/delete", json={"keys": [keys[1]]}).json()["deleted_keys"] == [token_of(keys[1])]

    def listed(status: str) -> list[str]:
        return admin.call("GET", "/key/list", params={"team_id": team, "status": status}).json()["keys"]

    assert listed("revoked") == [token_of(keys[0])] and listed("deleted") == [token_of(keys[1])]
    assert listed("active") == [token_of(keys[2])]
    assert token_of(keys[1]) not in admin.call("GET", "/key/list", params={"team_id": team}).json()["keys"]


def test_models_lists_only_the_keys_models(admin: KeyAdmin) -> None:
    narrow = admin.generate(models=["gpt-4o-mini", "slow-stream"])
    wide = admin.generate()
    ids = {model["id"] for model in admin.client.get("/v1/models", headers=bearer(narrow)).json()["data"]}
    assert ids == {"gpt-4o-mini", "slow-stream"}
    everything = admin.client.get("/v1/models", headers=admin.gateway.auth()).json()["data"]
    assert admin.client.get("/v1/models", headers=bearer(wide)).json()["data"] == everything
    assert len(everything) > 2


def test_master_key_has_no_limits_and_is_booked_under_its_own_alias(admin: KeyAdmin) -> None:
    before = admin.ledger(MASTER)["requests"]
    answers = [admin.gateway.chat("gpt-4o-mini", f"master-{n}") for n in range(3)]
    assert all(answer.status_code == 200 for answer in answers)
    assert not any(name.startswith("x-ratelimit") for answer in answers for name in answer.headers)
    row = admin.wait_booked(MASTER, before + 3)
    assert row["key_alias"] == MASTER_ALIAS and row["key_name"] is None


def test_the_keys_script_drives_the_same_api(admin: KeyAdmin) -> None:
    """local/keys.py (README: Keys, limits and usage) against this gateway, as an operator runs it."""
    env = {**os.environ, "GATEWAY_URL": admin.gateway.url, "LITELLM_MASTER_KEY": admin.gateway.key}

    def keys(*args: str) -> tuple[int, dict]:
        done = subprocess.run([sys.executable, str(ROOT / "local" / "keys.py"), *args], env=env,
                              capture_output=True, text=True, timeout=60)
        return done.returncode, json.loads(done.stdout)

    status, made = keys("generate", "--alias", f"script-{RUN}", "--models", "gpt-4o-mini, gpt-4o", "--rpm", "3",
                        "--budget", "0.5", "--budget-duration", "30d")
    assert status == 0 and made["models"] == ["gpt-4o-mini", "gpt-4o"] and made["rpm_limit"] == 3, made
    assert made["max_budget"] == 0.5 and made["budget_duration"] == "30d"
    assert admin.chat(made["key"], "script-chat").status_code == 200
    assert keys("block", made["key"])[1]["blocked"] is True
    assert keys("info", made["token"])[1]["info"]["status"] == "revoked"
    assert keys("update", made["key"], "--rpm", "9")[1]["rpm_limit"] == 9
    assert any(row["token"] == made["token"] for row in keys("list")[1]["keys"])
    assert keys("spend", "--by", "model")[1]["group_by"] == "model"
    status, refused = keys("info", "sk-never-issued-000000")
    assert status == 1 and refused["error"]["code"] == "not_found"
