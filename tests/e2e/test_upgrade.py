"""Upgrades lose nothing: storage written by the gateway at 98d4144 (before key marks, json_scan and read-only
key objects; tests/e2e/fixtures/make_legacy_state.py) keeps its keys, limits, spend and reports."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import E2E_KEY
from tests.e2e.keys_admin import KeyAdmin, bearer, chat_body
from tests.fakes.litellm_config import container_test_env
from tests.harness import Gateway, start_gateway

FIXTURE = Path(__file__).parent / "fixtures" / "state-98d4144"
pytestmark = pytest.mark.local_only


@pytest.fixture(scope="module")
def upgraded(litellm_config: Path | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    state = tmp_path_factory.mktemp("upgrade") / "state"
    shutil.copytree(FIXTURE / "state", state)
    gateway = start_gateway(key=E2E_KEY, litellm_config=litellm_config, container_env=container_test_env(),
                            state_dir=state, env={"KEY_MARK_SECRET": "a-secret-the-old-gateway-never-had"})
    try:
        yield gateway
    finally:
        gateway.stop()


def test_a_key_issued_before_the_upgrade_keeps_its_settings_spend_and_limits(upgraded: Gateway) -> None:
    expected = json.loads((FIXTURE / "expected.json").read_text())
    admin = KeyAdmin(upgraded)
    info = admin.info(expected["key"])
    assert {name: info[name] for name in ("key_alias", "models", "rpm_limit", "max_budget", "status")} == {
        "key_alias": "legacy", "models": ["gpt-4o-mini"], "rpm_limit": 100, "max_budget": 5.0, "status": "active"}
    assert info["spend"] == pytest.approx(expected["info"]["spend"])
    answer = upgraded.client.post("/v1/chat/completions", json=chat_body("after the upgrade"),
                                  headers=bearer(expected["key"]))
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-ratelimit-limit-requests"] == "100"
    # No price learned yet (none was kept before): that request held the whole budget until it was booked.
    admin.wait_booked(expected["token"], 3)
    refused = upgraded.client.post("/v1/chat/completions", json=chat_body("x", model="gpt-4o"),
                                   headers=bearer(expected["key"]))
    assert refused.status_code == 403, refused.text
    booked = admin.wait_booked(expected["token"], 3 + 1)  # two before, one now, plus the refusal (failed)
    assert booked["failed_requests"] == 1


def test_the_spend_report_still_holds_the_master_keys_history(upgraded: Gateway) -> None:
    admin = KeyAdmin(upgraded)
    assert admin.ledger(json.loads((FIXTURE / "expected.json").read_text())["token"])["requests"] >= 2
    assert admin.ledger("master")["requests"] >= 2  # booked by the container instance before the upgrade
