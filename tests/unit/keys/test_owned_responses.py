"""Stored responses are their creator's: what a key's object records at booking, and what it answers after."""

from __future__ import annotations

import asyncio

import pytest
from keys_fakes import START_MS, FakeRpc
from test_keys_admin import admit, call, generate
from test_keys_store import make

from edge.model_choice import Verdict, decide, places
from keys import client
from keys.store import KeyStore
from metering.charge import Charge
from metering.usage import Usage


def created(store: KeyStore, response_id: str | None, model: str = "m", failed: bool = False, at: int = START_MS,
            lease: str | None = None) -> None:
    store.book(lease, Charge(model, Usage(1, 1, failed), 0.0, response_id), at)


def test_a_booked_creation_is_the_keys_and_nothing_else_is() -> None:
    store = make()
    created(store, "resp_1", "claude")
    assert store.owner_of("resp_1", None) == ("claude", False)
    assert store.owner_of("resp_2", None) == (None, False)
    created(store, None)  # a booking that created nothing records nothing
    assert store.owner_of("", None) == (None, False)


def test_a_miss_while_other_requests_are_in_flight_says_ask_again() -> None:
    store = make()
    mine, other = store.admit(START_MS, "m")[1], store.admit(START_MS, "m")[1]
    assert store.owner_of("resp_1", mine) == (None, True)  # `other` may be creating it
    created(store, "resp_1", lease=other)
    assert store.owner_of("resp_1", mine) == ("m", False)


def test_only_the_newest_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("keys.store.MAX_OWNED_RESPONSES", 3)
    store = make()
    for index in range(5):
        created(store, f"resp_{index}", at=START_MS + index)
    assert [store.owner_of(f"resp_{index}", None)[0] for index in range(5)] == [None, None, "m", "m", "m"]


def test_a_regenerated_key_keeps_its_responses_and_the_old_key_has_none(rpc: FakeRpc) -> None:
    old = generate(rpc)
    lease = admit(rpc, old["key"]).lease
    asyncio.run(client.book(rpc, old["token"], lease, Charge("m", Usage(1, 1), 0.0, "resp_kept")))
    new = call(rpc, "POST", "/key/regenerate", {"key": old["key"]}).body
    assert asyncio.run(client.owner(rpc, new["token"], "resp_kept", None)) == ("m", False)
    assert asyncio.run(client.owner(rpc, old["token"], "resp_kept", None)) == (None, False)


def test_a_key_object_that_never_held_a_key_owns_nothing(rpc: FakeRpc) -> None:
    assert asyncio.run(client.owner(rpc, "f" * 64, "resp_1", None)) == (None, False)
    assert asyncio.run(client.owner(rpc, "f" * 64, 42, None)) == (None, False)  # not an id: not asked


def test_the_stored_model_is_the_requests_for_a_key_with_a_list() -> None:
    only = ["claude"]
    assert decide(places("GET", "/v1/responses/resp_1", ""), only, "claude") == Verdict("claude")
    assert decide(places("GET", "/v1/responses/resp_1", ""), only, None).refusal.code == "not_found"  # type: ignore[union-attr]
    assert decide(places("GET", "/v1/responses/resp_1", ""), only, "gpt-4o").refusal.code == "model_not_allowed"  # type: ignore[union-attr]
    continuing = places("POST", "/v1/responses", "", ("gpt-4o",), "resp_1")
    assert decide(continuing, only, "claude").refusal.code == "model_conflict"  # type: ignore[union-attr]
    assert decide(continuing, None).refusal is None  # the master key: LiteLLM decides, as before
