"""The LiteLLM-compatible key API end to end over the fake Rpc (real sqlite3 behind every object)."""

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from keys_fakes import Clock, FakeRpc

from keys import client
from keys.admin import Answer, Caller, handle, is_admin_path
from keys.material import token_of
from metering.charge import Charge, Outcome, charge_for
from metering.usage import Usage
from rules.errors import GatewayError

MASTER = Caller(is_master=True)


def as_sent(answer: Answer | GatewayError) -> Answer:
    """An error as the edge sends it (errors.GatewayError.body, OpenAI's dialect)."""
    return Answer(answer.status, json.loads(answer.body())) if isinstance(answer, GatewayError) else answer


def call(rpc: FakeRpc, method: str, path: str, body: Any = None, query: str = "",
         caller: Caller = MASTER) -> Answer:
    raw = None if body is None else json.dumps(body).encode()
    return as_sent(asyncio.run(handle(method, path, query, raw, caller, rpc, rpc.clock.ms)))


def generate(rpc: FakeRpc, **fields: Any) -> dict[str, Any]:
    answer = call(rpc, "POST", "/key/generate", fields)
    assert answer.status == 200, answer.body
    return answer.body


def admit(rpc: FakeRpc, key: str, model: str | None = "gpt-4o") -> client.Admission:
    return asyncio.run(client.admit(rpc, token_of(key), model))


def test_generate_answers_litellm_shape_and_stores_only_the_hash(tmp_path: Path, clock: Clock) -> None:
    rpc = FakeRpc(clock, tmp_path)
    body = generate(rpc, key_alias="alice", models=["gpt-4o"], max_budget=5, budget_duration="30d",
                    duration="1h", metadata={"team": "core"}, rpm_limit=10, user_id="u1")
    key = body["key"]
    assert key.startswith("sk-") and body["key_name"] == f"sk-...{key[-4:]}"
    assert body["token"] == body["token_id"] == token_of(key)
    assert body["expires"] == "2026-01-01T01:00:00.000Z" and body["budget_reset_at"] == "2026-01-31T00:00:00.000Z"
    assert {name: body[name] for name in ("key_alias", "models", "max_budget", "rpm_limit", "metadata")} == {
        "key_alias": "alice", "models": ["gpt-4o"], "max_budget": 5.0, "rpm_limit": 10, "metadata": {"team": "core"}}
    for db in rpc.dbs.values():
        db.conn.close()
    files = list(tmp_path.glob("*.sqlite"))
    assert len(files) == 2  # the directory and the key's own object
    for file in files:
        assert key.encode() not in file.read_bytes() and key[3:].encode() not in file.read_bytes()
    assert (tmp_path / f"{token_of(key)}.sqlite").exists()


def test_a_custom_key_is_used_once(rpc: FakeRpc) -> None:
    body = generate(rpc, key="sk-my-own-key-1234")
    assert body["key"] == "sk-my-own-key-1234"
    again = call(rpc, "POST", "/key/generate", {"key": "sk-my-own-key-1234"})
    assert again.status == 400 and again.body["error"]["param"] == "key"
    assert admit(rpc, "sk-my-own-key-1234").refusal is None


@pytest.mark.parametrize(("body", "field"), [
    ({"key": "pk-123456789012345"}, "key"), ({"key": "sk-short"}, "key"), ({"models": "gpt-4o"}, "models"),
    ({"models": [""]}, "models"), ({"rpm_limit": -1}, "rpm_limit"), ({"tpm_limit": 1.5}, "tpm_limit"),
    ({"max_parallel_requests": True}, "max_parallel_requests"), ({"max_budget": "10"}, "max_budget"),
    ({"max_budget": -0.1}, "max_budget"), ({"budget_duration": "1mo"}, "budget_duration"),
    ({"duration": "soon"}, "duration"), ({"metadata": [1]}, "metadata"), ({"blocked": "yes"}, "blocked"),
    ({"key_alias": ""}, "key_alias"), ({"user_id": 7}, "user_id"), ({"model_rpm_limit": {"a": 1}}, "model_rpm_limit"),
    ([1, 2], "body"),
])
def test_bad_input_names_the_field(rpc: FakeRpc, body: Any, field: str) -> None:
    answer = call(rpc, "POST", "/key/generate", body)
    assert answer.status == 400
    assert answer.body["error"]["param"] == field
    assert rpc.calls == []  # nothing was stored


def test_invalid_json_and_unknown_fields(rpc: FakeRpc) -> None:
    answer = as_sent(asyncio.run(handle("POST", "/key/generate", "", b"{nope", MASTER, rpc, rpc.clock.ms)))
    assert (answer.status, answer.body["error"]["param"]) == (400, "body")
    assert call(rpc, "POST", "/key/generate", {"send_invite_email": True, "model_max_budget": {}}).status == 200


def test_aliases_are_unique_among_live_keys(rpc: FakeRpc) -> None:
    first = generate(rpc, key_alias="team")
    answer = call(rpc, "POST", "/key/generate", {"key_alias": "team"})
    assert (answer.status, answer.body["error"]["param"]) == (400, "key_alias")
    assert call(rpc, "POST", "/key/delete", {"key_aliases": ["team"]}).body == {"deleted_keys": ["team"]}
    assert generate(rpc, key_alias="team")["token"] != first["token"]


def test_info_for_the_master_and_for_the_key_itself(rpc: FakeRpc) -> None:
    mine, other = generate(rpc, key_alias="me"), generate(rpc)
    answer = call(rpc, "GET", "/key/info", query=f"key={mine['token']}")
    assert answer.status == 200 and answer.body["key"] == mine["token"]
    assert answer.body["info"]["key_alias"] == "me" and answer.body["info"]["status"] == "active"
    assert answer.body["info"]["spend"] == 0.0 and "token" not in answer.body["info"]
    me = Caller(is_master=False, token=mine["token"])
    assert call(rpc, "GET", "/key/info", caller=me).body["info"]["key_alias"] == "me"
    assert call(rpc, "GET", "/key/info", query=f"key={mine['key']}", caller=me).status == 200
    assert call(rpc, "GET", "/key/info", query=f"key={other['token']}", caller=me).status == 403
    assert call(rpc, "POST", "/key/generate", {}, caller=me).status == 403
    assert call(rpc, "GET", "/key/info", caller=Caller(False, "0" * 64)).status == 401
    assert call(rpc, "GET", "/key/info", query="key=" + "0" * 64).status == 404
    assert call(rpc, "GET", "/key/info", query="key=nonsense").status == 400


def test_update_changes_limits_for_the_next_request(rpc: FakeRpc) -> None:
    body = generate(rpc, key_alias="u", models=["gpt-4o"])
    assert admit(rpc, body["key"], "claude-3-haiku").refusal.code == "model_not_allowed"  # type: ignore[union-attr]
    answer = call(rpc, "POST", "/key/update", {"key": body["key"], "models": [], "rpm_limit": 1, "key_alias": "v"})
    assert answer.status == 200 and answer.body["models"] == [] and answer.body["key"] == body["token"]
    assert admit(rpc, body["key"], "claude-3-haiku").refusal is None
    assert admit(rpc, body["key"]).refusal.code == "rate_limit_exceeded"  # type: ignore[union-attr]
    by_alias = call(rpc, "POST", "/key/update", {"key_alias": "v", "duration": "1s"})
    assert by_alias.status == 200 and by_alias.body["expires"] == "2026-01-01T00:00:01.000Z"
    assert call(rpc, "POST", "/key/update", {"key_alias": "nobody", "rpm_limit": 1}).status == 404
    assert call(rpc, "POST", "/key/update", {"rpm_limit": 1}).body["error"]["param"] == "key"


def test_block_unblock_delete_take_effect_at_once(rpc: FakeRpc) -> None:
    key = generate(rpc)["key"]
    blocked = call(rpc, "POST", "/key/block", {"key": key})
    assert blocked.status == 200 and blocked.body["blocked"] is True and blocked.body["token"] == token_of(key)
    assert admit(rpc, key).refusal.code == "key_blocked"  # type: ignore[union-attr]
    assert call(rpc, "POST", "/key/unblock", {"key": token_of(key)}).body["status"] == "active"
    assert admit(rpc, key).refusal is None
    assert call(rpc, "POST", "/key/delete", {"keys": [key]}).body == {"deleted_keys": [token_of(key)]}
    assert admit(rpc, key).refusal.code == "invalid_api_key"  # type: ignore[union-attr]
    assert call(rpc, "GET", "/key/info", query=f"key={token_of(key)}").body["info"]["status"] == "deleted"
    assert call(rpc, "POST", "/key/block", {"key": key}).status == 404
    assert call(rpc, "POST", "/key/delete", {"keys": [key, "0" * 64]}).body["error"]["param"] == "keys[1]"
    assert call(rpc, "POST", "/key/delete", {}).status == 400


def test_list_pages_filters_and_full_objects(rpc: FakeRpc, clock: Clock) -> None:
    tokens = []
    for index in range(5):
        tokens.append(generate(rpc, user_id="a" if index % 2 else "b", key_alias=f"k{index}")["token"])
        clock.advance(1000)
    page = call(rpc, "GET", "/key/list", query="page=1&size=2").body
    assert page == {"keys": [tokens[4], tokens[3]], "total_count": 5, "current_page": 1, "total_pages": 3}
    assert call(rpc, "GET", "/key/list", query="user_id=a").body["keys"] == [tokens[3], tokens[1]]
    call(rpc, "POST", "/key/block", {"key": tokens[0]})
    assert call(rpc, "GET", "/key/list", query="status=revoked").body["keys"] == [tokens[0]]
    full = call(rpc, "GET", "/key/list", query="size=1&return_full_object=true").body["keys"]
    assert full[0]["token"] == tokens[4] and full[0]["key_alias"] == "k4"
    assert call(rpc, "GET", "/key/list", query="size=101").body["error"]["param"] == "size"
    assert call(rpc, "GET", "/key/list", query="status=odd").body["error"]["param"] == "status"


def test_regenerate_moves_limits_and_spend_to_a_new_key(rpc: FakeRpc) -> None:
    old = generate(rpc, key_alias="r", max_budget=1.0)
    lease = admit(rpc, old["key"]).lease
    asyncio.run(client.book(rpc, old["token"], lease, Charge("gpt-4o", Usage(1, 1), 0.25)))
    answer = call(rpc, "POST", f"/key/{old['token']}/regenerate", {"rpm_limit": 7})
    assert answer.status == 200
    new = answer.body
    assert new["key"] != old["key"] and new["key_alias"] == "r" and new["rpm_limit"] == 7 and new["spend"] == 0.25
    assert admit(rpc, old["key"]).refusal.code == "invalid_api_key"  # type: ignore[union-attr]
    assert admit(rpc, new["key"]).refusal is None
    assert call(rpc, "GET", "/key/list").body["keys"] == [new["token"]]
    custom = call(rpc, "POST", "/key/regenerate", {"key": new["key"], "new_key": "sk-rotated-key-0001"})
    assert custom.body["key"] == "sk-rotated-key-0001"
    assert call(rpc, "POST", "/key/regenerate", {"key": new["key"]}).status == 404


def test_spend_report_by_key_model_and_day(rpc: FakeRpc, clock: Clock) -> None:
    alice = generate(rpc, key_alias="alice")
    for model, usage, cost in [("gpt-4o", Usage(10, 5), 0.5), ("claude", Usage(3, 3), 0.25)]:
        lease = admit(rpc, alice["key"], model).lease
        asyncio.run(client.book(rpc, alice["token"], lease, Charge(model, usage, cost)))
    clock.advance(86_400_000)
    # The master key, booked by whichever container instance served it.
    asyncio.run(rpc.instance_ledger("litellm-0")).book(Charge("gpt-4o", Usage(1, 1), 1.0), clock.ms)
    failed = charge_for("gpt-4o", Usage(9, 9), Outcome(500), cost_header="9.0")  # one request: zero tokens, zero cost
    asyncio.run(rpc.instance_ledger("litellm-1")).book(failed, clock.ms)
    by_key = call(rpc, "GET", "/spend/report", query="start_date=2026-01-01&end_date=2026-01-02").body
    assert [(row["key_alias"], row["requests"], row["spend"]) for row in by_key["data"]] == [
        ("master", 2, 1.0), ("alice", 2, 0.75)]
    assert by_key["total"] == {"requests": 4, "failed_requests": 1, "prompt_tokens": 14, "completion_tokens": 9,
                               "spend": 1.75, "total_tokens": 23}
    by_model = call(rpc, "GET", "/spend/report",
                    query="start_date=2026-01-01&end_date=2026-01-02&group_by=model").body["data"]
    assert [(row["model"], row["requests"]) for row in by_model] == [("gpt-4o", 3), ("claude", 1)]
    by_day = call(rpc, "GET", "/spend/report",
                  query="start_date=2026-01-02&end_date=2026-01-02&group_by=day").body["data"]
    assert by_day == [{"date": "2026-01-02", "requests": 2, "failed_requests": 1, "prompt_tokens": 1,
                       "completion_tokens": 1, "spend": 1.0, "total_tokens": 2}]
    bad = call(rpc, "GET", "/spend/report", query="start_date=2026-1-1&end_date=2026-01-02")
    assert (bad.status, bad.body["error"]["param"]) == (400, "start_date")
    assert call(rpc, "GET", "/spend/report", query="start_date=2026-01-01&end_date=2026-01-02&group_by=x").status == 400


def test_routes_and_methods(rpc: FakeRpc) -> None:
    assert is_admin_path("/key/generate") and is_admin_path("/key/sk-abc/regenerate")
    assert not is_admin_path("/key/user/generate/x") and not is_admin_path("/v1/models")
    assert call(rpc, "GET", "/key/generate").status == 405
    assert call(rpc, "POST", "/key/nothing").status == 404


def test_visible_models_filters_a_listing() -> None:
    listing = {"object": "list", "data": [{"id": "gpt-4o"}, {"id": "claude"}]}
    assert client.visible_models(listing, ["claude"]) == {"object": "list", "data": [{"id": "claude"}]}
    assert client.visible_models(listing, []) is listing


def test_concurrent_admissions_hold_the_limit_exactly(rpc: FakeRpc) -> None:
    key = generate(rpc, rpm_limit=5, max_parallel_requests=3)["key"]

    async def burst() -> list[client.Admission]:
        return await asyncio.gather(*(client.admit(rpc, token_of(key), "gpt-4o") for _ in range(8)))

    answers = asyncio.run(burst())
    assert sum(answer.refusal is None for answer in answers) == 3  # parallel first: 3 in flight at most
    for answer in answers:
        if answer.lease:
            asyncio.run(client.book(rpc, token_of(key), answer.lease, Charge("gpt-4o", Usage(1, 1), 0.0)))
    answers = asyncio.run(burst())
    assert sum(answer.refusal is None for answer in answers) == 2  # rpm: 5 in the minute, 3 already used
    assert {answer.refusal.code for answer in answers if answer.refusal} == {"rate_limit_exceeded"}
