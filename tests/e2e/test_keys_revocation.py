"""Block, unblock, delete, regenerate and expiry take effect for the very next request (issue 11 §2-3).

Nothing caches a key at the edge: every request asks the key's own Durable Object, so the bound is "the
next request", with no delay to wait out. The cases below issue that next request at once, several times.
"""

from __future__ import annotations

import time

import httpx
import pytest

from keys.material import token_of
from tests.e2e.assertions import openai_error
from tests.e2e.keys_admin import KeyAdmin
from tests.harness import FakeProvider, Gateway

FLIPS = 5


@pytest.fixture(scope="module")
def admin(gateway: Gateway) -> KeyAdmin:
    return KeyAdmin(gateway)


def refused_with(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert openai_error(answer)["code"] == code


def test_block_and_unblock_hold_for_the_next_request(admin: KeyAdmin, provider: FakeProvider) -> None:
    key = admin.generate()
    for flip in range(FLIPS):
        blocked = admin.call("POST", "/key/block", json={"key": key})
        assert blocked.status_code == 200 and blocked.json()["blocked"] is True, blocked.text
        refused_with(admin.chat(key, f"blocked-{flip}"), 401, "key_blocked")
        assert admin.call("GET", "/key/info", key=key).status_code == 401  # not even its own info
        assert admin.info(key)["status"] == "revoked"
        assert admin.call("POST", "/key/unblock", json={"key": token_of(key)}).json()["blocked"] is False
        assert admin.chat(key, f"unblocked-{flip}").status_code == 200
    assert [entry["marker"] for entry in provider.stats()["requests"]] == [f"unblocked-{n}" for n in range(FLIPS)]


def test_blocked_at_generation(admin: KeyAdmin, provider: FakeProvider) -> None:
    key = admin.generate(blocked=True)
    refused_with(admin.chat(key, "born-blocked"), 401, "key_blocked")
    assert provider.stats()["total"] == 0


def test_delete_stops_the_key_and_keeps_its_ledger(admin: KeyAdmin, provider: FakeProvider) -> None:
    alias = f"deleted-{time.time_ns()}"
    key, other = admin.generate(key_alias=alias), admin.generate()
    assert admin.chat(key, "before-delete").status_code == 200
    admin.wait_booked(token_of(key), 1)
    deleted = admin.call("POST", "/key/delete", json={"key_aliases": [alias]})
    assert deleted.status_code == 200 and deleted.json()["deleted_keys"] == [alias], deleted.text
    refused_with(admin.chat(key, "after-delete"), 401, "invalid_api_key")
    assert admin.info(key)["status"] == "deleted"
    assert admin.ledger(token_of(key))["requests"] == 1  # spend reports still show what it used
    assert admin.call("POST", "/key/delete", json={"keys": [other]}).status_code == 200
    refused_with(admin.chat(other, "other-after-delete"), 401, "invalid_api_key")
    assert admin.call("POST", "/key/update", json={"key": key, "rpm_limit": 1}).status_code == 404
    assert [entry["marker"] for entry in provider.stats()["requests"]] == ["before-delete"]


def test_regenerate_moves_settings_spend_and_ledger_to_the_new_key(admin: KeyAdmin, provider: FakeProvider) -> None:
    old = admin.generate(rpm_limit=10, models=["gpt-4o-mini"], key_alias=f"regen-{time.time_ns()}")
    assert admin.chat(old, "regen-old").status_code == 200
    admin.wait_booked(token_of(old), 1)
    spend = admin.info(old)["spend"]
    answer = admin.call("POST", "/key/regenerate", json={"key": old, "rpm_limit": 20})
    assert answer.status_code == 200, answer.text
    new = answer.json()["key"]
    assert new != old and answer.json()["token"] == token_of(new)
    info = admin.info(new)
    assert info["spend"] == pytest.approx(spend) and info["models"] == ["gpt-4o-mini"] and info["rpm_limit"] == 20
    refused_with(admin.chat(old, "regen-old-again"), 401, "invalid_api_key")
    fresh = admin.chat(new, "regen-new")
    assert fresh.status_code == 200 and fresh.headers["x-ratelimit-limit-requests"] == "20"
    assert admin.wait_booked(token_of(new), 2)["requests"] == 2  # the old key's ledger came along
    assert admin.call("GET", "/key/info", params={"key": old}).status_code == 404
    chosen = f"sk-chosen-{time.time_ns()}"  # LiteLLM's path form, with a caller-chosen new key
    again = admin.call("POST", f"/key/{token_of(new)}/regenerate", json={"new_key": chosen})
    assert again.status_code == 200 and again.json()["key"] == chosen, again.text
    refused_with(admin.chat(new, "regen-new-again"), 401, "invalid_api_key")
    assert admin.chat(chosen, "regen-chosen").status_code == 200
    assert [entry["marker"] for entry in provider.stats()["requests"]] == ["regen-old", "regen-new", "regen-chosen"]


def test_expiry_with_a_short_duration(admin: KeyAdmin, provider: FakeProvider) -> None:
    answer = admin.call("POST", "/key/generate", json={"duration": "2s"})
    key, expires = answer.json()["key"], answer.json()["expires"]
    assert admin.chat(key, "before-expiry").status_code == 200
    time.sleep(2.0)
    refused_with(admin.chat(key, "after-expiry"), 401, "key_expired")
    assert admin.info(key)["status"] == "expired" and admin.info(key)["expires"] == expires
    assert [entry["marker"] for entry in provider.stats()["requests"]] == ["before-expiry"]


def test_an_unknown_key_reaches_nothing(admin: KeyAdmin, provider: FakeProvider) -> None:
    for key in ("sk-never-issued-1234567890", "not-even-sk-shaped", "0" * 64):
        refused_with(admin.chat(key, "unknown"), 401, "invalid_api_key")
    assert provider.stats()["total"] == 0
