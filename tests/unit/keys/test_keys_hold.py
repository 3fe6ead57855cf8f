"""Keys that hold: periods validated before anything is stored, one winner among concurrent regenerations,
restrictions the gateway does not enforce refused, a key reading its own info. Over the fake Rpc."""

import asyncio
import json
from dataclasses import asdict, replace
from typing import Any

import pytest
from keys_fakes import Clock, FakeRpc
from test_keys_admin import MASTER, admit, as_sent, call, generate

from keys import client
from keys.admin import Caller, handle
from keys.fields import UNENFORCED
from keys.material import token_of
from keys.ops import DIRECTORY
from keys.record import KeyRecord
from metering.charge import Charge
from metering.usage import Usage


class InterleavingRpc(FakeRpc):
    """Yields to the event loop before each call, as a real hop to a Durable Object does, so concurrent
    admin requests interleave between their calls."""

    async def call(self, target: str, op: str, payload: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        return await super().call(target, op, payload)


@pytest.mark.parametrize("field", ["duration", "budget_duration"])
@pytest.mark.parametrize("period", ["999999w", "999999d", "999999h", "36501d"])
def test_periods_past_the_maximum_are_refused_before_anything_is_stored(rpc: FakeRpc, field: str,
                                                                         period: str) -> None:
    answer = call(rpc, "POST", "/key/generate", {field: period})
    assert (answer.status, answer.body["error"]["param"]) == (400, field), answer.body
    assert rpc.calls == []
    key = generate(rpc, key_alias="kept", **{field: "30d"})["key"]
    before = call(rpc, "GET", "/key/info", query=f"key={key}").body
    for path, body in (("/key/update", {"key": key, field: period}), ("/key/regenerate", {"key": key, field: period})):
        refused = call(rpc, "POST", path, body)
        assert (refused.status, refused.body["error"]["param"]) == (400, field), (path, refused.body)
    assert call(rpc, "GET", "/key/info", query=f"key={key}").body == before
    assert call(rpc, "GET", "/key/list", query="return_full_object=true").status == 200


def test_the_longest_period_is_accepted_and_renders(rpc: FakeRpc) -> None:
    body = generate(rpc, duration="36500d", budget_duration="5214w")
    assert body["expires"] == "2125-12-08T00:00:00.000Z" and body["budget_reset_at"].startswith("2125-")


def test_a_key_stored_with_an_overflowing_period_by_an_older_gateway_still_answers(rpc: FakeRpc) -> None:
    key = generate(rpc, key_alias="legacy", budget_duration="30d")["key"]
    store = rpc.store(token_of(key))
    huge = 999_999 * 604_800_000  # "999999w", as the old validation let through
    store.save(replace(store.load(), expires_ms=rpc.clock.ms + huge, budget_duration="999999w"))
    info = call(rpc, "GET", "/key/info", query=f"key={key}")
    assert info.status == 200 and info.body["info"]["expires"] == "9999-12-31T23:59:59.999Z"
    assert call(rpc, "GET", "/key/list", query="return_full_object=true").status == 200
    assert call(rpc, "POST", "/key/block", {"key": key}).status == 200
    repaired = call(rpc, "POST", "/key/update", {"key": key, "duration": "1h", "budget_duration": "1d",
                                                 "blocked": False})
    assert repaired.status == 200 and repaired.body["expires"] == "2026-01-01T01:00:00.000Z", repaired.body
    assert admit(rpc, key).refusal is None


def test_concurrent_regenerations_make_exactly_one_key(clock: Clock) -> None:
    rpc = InterleavingRpc(clock)
    old = generate(rpc, max_budget=1.0, team_id="regen")
    lease = admit(rpc, old["key"]).lease
    asyncio.run(client.book(rpc, old["token"], lease, Charge("gpt-4o", Usage(3, 4), 0.25)))

    async def four() -> list[Any]:
        return await asyncio.gather(*(handle("POST", "/key/regenerate", "", json.dumps({"key": old["key"]}).encode(),
                                             MASTER, rpc, clock.ms) for _ in range(4)))

    answers = [as_sent(answer) for answer in asyncio.run(four())]
    assert sorted(answer.status for answer in answers) == [200, 404, 404, 404], [a.body for a in answers]
    new = next(answer.body for answer in answers if answer.status == 200)
    assert new["spend"] == 0.25 and admit(rpc, new["key"]).refusal is None
    assert admit(rpc, old["key"]).refusal.code == "invalid_api_key"  # type: ignore[union-attr]
    assert call(rpc, "GET", "/key/list", query="team_id=regen").body["keys"] == [new["token"]]
    report = call(rpc, "GET", "/spend/report", query="start_date=2026-01-01&end_date=2026-01-01").body
    assert (report["total"]["requests"], report["total"]["spend"]) == (1, 0.25)  # one ledger, not four


def test_a_regeneration_that_cannot_complete_leaves_the_old_key_as_it_was(rpc: FakeRpc) -> None:
    old = generate(rpc, key_alias="stays", rpm_limit=9)
    lease = admit(rpc, old["key"]).lease
    asyncio.run(client.book(rpc, old["token"], lease, Charge("gpt-4o", Usage(1, 1), 0.5)))
    other = generate(rpc)["key"]
    taken = call(rpc, "POST", "/key/regenerate", {"key": old["key"], "new_key": other})
    assert (taken.status, taken.body["error"]["param"]) == (400, "new_key")
    itself = call(rpc, "POST", "/key/regenerate", {"key": old["key"], "new_key": old["key"]})
    assert (itself.status, itself.body["error"]["param"]) == (400, "new_key")
    # Known to the directory only (as a token it once listed): refused by the directory after the take.
    ghost = "sk-ghost-key-00000001"
    summary = KeyRecord(token_of(ghost), "sk-...0001", created_ms=0, updated_ms=0).summary()
    asyncio.run(rpc.call(DIRECTORY, "put", {"summary": summary, "new": True}))
    refused = call(rpc, "POST", "/key/regenerate", {"key": old["key"], "new_key": ghost})
    assert (refused.status, refused.body["error"]["param"]) == (400, "new_key"), refused.body
    info = call(rpc, "GET", "/key/info", query=f"key={old['key']}").body["info"]
    assert (info["key_alias"], info["rpm_limit"], info["spend"], info["status"]) == ("stays", 9, 0.5, "active")
    assert admit(rpc, old["key"]).refusal is None
    assert call(rpc, "GET", "/key/list", query="key_alias=stays").body["keys"] == [old["token"]]


def test_putting_a_key_back_keeps_what_a_request_in_flight_booked_meanwhile(rpc: FakeRpc) -> None:
    body = generate(rpc)
    first, second = admit(rpc, body["key"]).lease, admit(rpc, body["key"]).lease
    asyncio.run(client.book(rpc, body["token"], first, Charge("gpt-4o", Usage(1, 1), 0.25)))
    state = asyncio.run(rpc.call(body["token"], "take", {}))["state"]
    asyncio.run(client.book(rpc, body["token"], second, Charge("gpt-4o", Usage(2, 2), 0.5)))
    assert asyncio.run(rpc.call(body["token"], "import", {"state": state}))["imported"]
    report = call(rpc, "GET", "/spend/report", query="start_date=2026-01-01&end_date=2026-01-01").body
    assert (report["total"]["requests"], report["total"]["spend"]) == (2, 0.75)


def test_a_key_its_object_holds_but_the_directory_lost_is_not_listed_twice(rpc: FakeRpc) -> None:
    key = "sk-orphan-key-000001"
    orphan = KeyRecord(token_of(key), "sk-...0001", created_ms=0, updated_ms=0)
    asyncio.run(rpc.call(token_of(key), "create", {"record": asdict(orphan)}))
    refused = call(rpc, "POST", "/key/generate", {"key": key})
    assert (refused.status, refused.body["error"]["param"]) == (400, "key")
    assert call(rpc, "GET", "/key/list").body["keys"] == []


@pytest.mark.parametrize(("field", "value"), [
    ("allowed_routes", ["/v1/embeddings"]), ("enforced_params", ["user"]), ("guardrails", ["pii"]),
    ("permissions", {"get_spend_routes": False}), ("aliases", {"gpt-4": "gpt-4o"}), ("soft_budget", 1.5),
    ("config", {"temperature": 0}), ("tags", ["team-a"]), ("model_tpm_limit", {"gpt-4o": 10}),
    ("key_type", "llm_api"), ("auto_rotate", True), ("rpm_limit_type", "guaranteed_throughput"),
])
def test_restrictions_the_gateway_does_not_enforce_are_refused(rpc: FakeRpc, field: str, value: Any) -> None:
    assert field in UNENFORCED
    answer = call(rpc, "POST", "/key/generate", {field: value})
    assert (answer.status, answer.body["error"]["param"]) == (400, field), answer.body
    assert field in answer.body["error"]["message"]
    inside = call(rpc, "POST", "/key/generate", {"metadata": {field: value}})
    assert (inside.status, inside.body["error"]["param"]) == (400, f"metadata.{field}"), inside.body
    key = generate(rpc)["key"]
    for path in ("/key/update", "/key/regenerate"):
        assert call(rpc, "POST", path, {"key": key, field: value}).body["error"]["param"] == field
    assert rpc.calls.count((DIRECTORY, "put")) == 1  # only the generate above stored anything


def test_defaults_of_those_fields_pass_as_litellm_clients_send_them(rpc: FakeRpc) -> None:
    """LiteLLM's CLI sends `aliases: {}`, `config: {}`, `spend: 0`; its UI sends the rest of its defaults."""
    defaults = {"aliases": {}, "config": {}, "spend": 0, "permissions": {}, "allowed_routes": [], "tags": None,
                "guardrails": [], "soft_budget": None, "model_max_budget": {}, "key_type": "default",
                "auto_rotate": False, "allowed_cache_controls": [], "enforced_params": None, "rotation_interval": ""}
    body = generate(rpc, models=["gpt-4o"], metadata={"tags": []}, **defaults)
    assert body["spend"] == 0.0 and body["models"] == ["gpt-4o"]
    assert call(rpc, "POST", "/key/update", {"key": body["key"], **defaults, "spend": None}).status == 200


def test_spend_is_set_as_litellm_sets_it(rpc: FakeRpc) -> None:
    key = generate(rpc, spend=0.75, max_budget=1.0)["key"]
    assert call(rpc, "GET", "/key/info", query=f"key={key}").body["info"]["spend"] == 0.75
    assert call(rpc, "POST", "/key/update", {"key": key, "spend": 1.0}).body["spend"] == 1.0
    assert admit(rpc, key).refusal.code == "insufficient_quota"  # type: ignore[union-attr]
    assert call(rpc, "POST", "/key/update", {"key": key, "spend": None}).body["spend"] == 1.0  # null: unchanged
    assert call(rpc, "POST", "/key/update", {"key": key, "spend": 0}).body["spend"] == 0.0
    assert admit(rpc, key).refusal is None
    assert call(rpc, "POST", "/key/update", {"key": key, "spend": -1}).body["error"]["param"] == "spend"


def test_a_key_reads_its_own_budget_and_spend_even_when_spent(rpc: FakeRpc) -> None:
    body = generate(rpc, max_budget=0.1, budget_duration="30d", rpm_limit=5)
    lease = admit(rpc, body["key"]).lease
    asyncio.run(client.book(rpc, body["token"], lease, Charge("gpt-4o", Usage(5, 5), 0.2)))
    assert admit(rpc, body["key"]).refusal.code == "insufficient_quota"  # type: ignore[union-attr]
    own = call(rpc, "GET", "/key/info", caller=Caller(is_master=False, token=body["token"]))
    assert own.status == 200 and own.body["key"] == body["token"], own.body
    info = own.body["info"]
    assert (info["max_budget"], info["spend"], info["rpm_limit"]) == (0.1, 0.2, 5) and info["budget_reset_at"]
    assert body["key"] not in json.dumps(own.body)
