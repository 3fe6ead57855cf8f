"""The internal operations of the two Durable Objects, as plain JSON-in/JSON-out functions.

The objects (keys.objects) only decode a request and call these; the unit tests call them directly
over `sqlite3`, so what runs in workerd is what the tests ran. `Rpc` is how callers reach them.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any, Protocol

from keys.directory import DirectoryStore
from keys.record import KeyRecord
from keys.reservations import Need
from keys.store import KeyStore
from metering.charge import Charge
from metering.pricing import Price

DIRECTORY = "directory"  # the one directory object's name
# Master-key traffic in spend reports; its object holds rows booked before metering.ledger.MasterLedger.
MASTER = "master"


class Rpc(Protocol):
    async def call(self, target: str, op: str, payload: dict[str, Any]) -> dict[str, Any]:
        """`target` is DIRECTORY, MASTER or a key's token."""
        ...

    async def master_ledger(self, start_day: str, end_day: str) -> list[dict[str, Any]]:
        """The master key's ledger rows: those of every container instance that booked some (the directory's
        `ledger_holders`, each a metering.ledger.MasterLedger), plus what MASTER's own object booked before."""
        ...

    async def master_recent(self, limit: int) -> list[dict[str, Any]]:
        """The master key's recent requests: up to `limit` of each container instance that booked some."""
        ...


def _record(record: KeyRecord | None) -> dict[str, Any]:
    return {"record": None if record is None else asdict(record)}


class UnknownOp(KeyError):
    """An operation no object answers (answered as a bad call, like a payload missing a field)."""


# The operations of each object, as Durable Object RPC methods (keys.objects) and internal paths.
KEY_OPS = ("admit", "book", "owner", "record", "create", "change", "delete", "take", "restore", "ledger", "recent")
DIRECTORY_OPS = ("alias", "put", "forget", "page", "everyone", "add_ledger_holder", "ledger_holders")


def key_op(store: KeyStore, op: str, payload: dict[str, Any], now_ms: int) -> dict[str, Any]:
    if op == "admit":  # `need` absent (an edge from before reservations): nothing reserved
        need = Need.from_wire(payload["need"]) if "need" in payload else None
        verdict, lease, record = store.admit(now_ms, payload.get("model"), need, payload.get("request_id"))
        refusal, grant = verdict.refusal, verdict.reservation.grant
        capped = refusal is None and grant.output_tokens is not None  # the edge writes the request's output cap
        prices = verdict.prices if capped and grant.usd is not None else {}
        return {"refusal": None if refusal is None else asdict(refusal), "headers": verdict.headers,
                "lease": lease, "models": [] if record is None else record.models,
                "grant": asdict(grant) if capped else None,
                "prices": {name: [price.input_per_token, price.output_per_token] for name, price in prices.items()}}
    if op in ("book", "finish"):  # "finish": what a container object one version behind sends during a deploy
        store.book(payload.get("lease"), Charge.from_wire(payload), now_ms, prices_from_wire(payload.get("prices")))
        return {}
    if op == "owner":  # whose stored response: this key's, with the model it was created on?
        model, pending = store.owner_of(str(payload["id"]), payload.get("lease"))
        return {"model": model, "pending": pending}
    if op == "record":  # the live record, or the deleted one (for /key/info status "deleted")
        return _record(store.current(now_ms) or store.load())
    if op == "create":
        return {"created": store.create(KeyRecord(**payload["record"]))}
    if op == "change":
        return _record(store.change(payload["settings"], now_ms))
    if op == "delete":
        return _record(store.delete(now_ms))
    if op == "take":
        return {"state": store.take_state(now_ms)}
    if op in ("restore", "import"):  # "import": what a Worker one version behind sends during a deploy
        return {"imported": store.import_state(payload["state"])}
    if op == "ledger":
        return {"rows": store.ledger(payload["start_day"], payload["end_day"])}
    if op == "recent":
        return {"rows": store.recent(int(payload["limit"]))}
    raise UnknownOp(op)


def prices_from_wire(value: Any) -> dict[str, Price]:
    """`{model: [input per token, output per token]}` (keys.client.book), whatever is malformed left out."""
    prices: dict[str, Price] = {}
    for name, pair in (value.items() if isinstance(value, dict) else ()):
        if isinstance(name, str) and isinstance(pair, list) and len(pair) == 2 and all(
                isinstance(rate, int | float) and not isinstance(rate, bool) and 0 <= rate < math.inf for rate in pair):
            prices[name] = Price(float(pair[0]), float(pair[1]))
    return prices


def directory_op(store: DirectoryStore, op: str, payload: dict[str, Any], now_ms: int) -> dict[str, Any]:
    if op == "alias":
        return {"token": store.alias_owner(payload["alias"])}
    if op == "put":
        return {"result": store.put(payload["summary"], payload.get("replaces"), bool(payload.get("new")))}
    if op == "forget":
        store.forget(payload["token"])
        return {}
    if op == "page":
        return store.page(payload["page"], payload["size"], now_ms, payload["filters"])
    if op == "everyone":
        return {"keys": store.everyone()}
    if op == "add_ledger_holder":
        store.add_ledger_holder(payload["instance"])
        return {}
    if op == "ledger_holders":
        return {"instances": store.ledger_holders()}
    raise UnknownOp(op)
