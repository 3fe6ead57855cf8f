"""GET /spend/logs: the last requests of a key — served, refused by its object, refused at the edge — each under the
request id its client saw, with no prompt, body or key in them; the master key's kept by the container instances."""

from __future__ import annotations

import pytest

from keys.material import token_of
from tests.e2e.assertions import openai_error
from tests.e2e.keys_admin import KeyAdmin, bearer, known_usage
from tests.harness import Gateway, wait_for

SECRET_PROMPT = "recent-requests-never-hold-this-prompt"


@pytest.fixture(scope="module")
def admin(gateway: Gateway) -> KeyAdmin:
    return KeyAdmin(gateway)


def logs(admin: KeyAdmin, api_key: str, count: int) -> list[dict]:
    """The key's newest rows, once `count` are there (bookings land just after the last byte)."""
    seen: list[dict] = []

    def there() -> bool:
        answer = admin.call("GET", "/spend/logs", params={"api_key": api_key, "limit": 50})
        assert answer.status_code == 200, answer.text
        seen[:] = answer.json()["data"]
        return len(seen) >= count

    wait_for(there, 5.0, interval=0.05)
    return seen


def test_why_was_alice_refused(admin: KeyAdmin) -> None:
    key = admin.generate(key_alias="recent-alice", models=["gpt-4o-mini"], rpm_limit=2)
    served = admin.chat(key, SECRET_PROMPT)
    wrong_model = admin.chat(key, "other", "gpt-4o")
    over_limit = admin.chat(key, "third")
    assert (served.status_code, wrong_model.status_code, over_limit.status_code) == (200, 403, 429)
    rows = {row["request_id"]: row for row in logs(admin, key, 3)}  # newest booked first: a refusal can precede
    refused = rows[over_limit.headers["x-request-id"]]  # the booking of a request answered before it
    assert (refused["http_status"], refused["error_code"], refused["status"]) == (429, "rate_limit_exceeded",
                                                                               "failure")  # the key's object
    wrong = rows[wrong_model.headers["x-request-id"]]
    assert (wrong["http_status"], wrong["error_code"], wrong["model"]) == (403, "model_not_allowed", "gpt-4o")  # edge
    ok = rows[served.headers["x-request-id"]]
    assert (ok["status"], ok["model"], ok["prompt_tokens"], ok["completion_tokens"]) == (
        "success", "gpt-4o-mini", *known_usage(SECRET_PROMPT))
    assert ok["latency_ms"] > 0 and ok["key_alias"] == "recent-alice" and ok["api_key"] == token_of(key)
    whole = admin.call("GET", "/spend/logs", params={"api_key": key}).text
    assert SECRET_PROMPT not in whole and key not in whole and "echo" not in whole


def test_the_master_keys_requests_are_there_too(admin: KeyAdmin) -> None:
    answer = admin.gateway.chat("gpt-4o-mini", "master-recent")
    assert answer.status_code == 200
    request_id = answer.headers["x-request-id"]

    def listed() -> bool:
        rows = admin.call("GET", "/spend/logs", params={"api_key": "master"}).json()["data"]
        return any(row["request_id"] == request_id and row["key_alias"] == "master" for row in rows)

    wait_for(listed, 5.0, interval=0.05)


def test_only_the_master_key_reads_them(admin: KeyAdmin) -> None:
    key = admin.generate()
    refused = admin.client.get("/spend/logs", params={"api_key": key}, headers=bearer(key))
    assert refused.status_code == 403 and openai_error(refused)["code"] == "admin_only"
    assert admin.client.get("/spend/logs").status_code == 401
