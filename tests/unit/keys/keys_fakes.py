"""CPython stand-ins for workerd: `SqlExec` over the real sqlite3, and an Rpc that reaches the keys'
objects through the same ops functions the Durable Objects run, with JSON on the wire."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from keys.directory import DirectoryStore
from keys.ops import DIRECTORY, MASTER, directory_op, key_op
from keys.store import KeyStore
from metering.ledger import MasterLedger

T = TypeVar("T")
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class SqliteExec:
    """Like ctx.storage.sql + transactionSync: no nesting, rollback when fn raises."""

    def __init__(self, path: str = ":memory:") -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self._in_transaction = False

    def exec(self, query: str, *bindings: Any) -> list[dict[str, Any]]:
        for value in bindings:
            assert value is None or type(value) in (int, float, str), f"binding {value!r} would not survive workerd"
        return [dict(row) for row in self.conn.execute(query, bindings).fetchall()]

    def transaction(self, fn: Callable[[], T]) -> T:
        assert not self._in_transaction, "transactionSync does not nest here"
        self._in_transaction = True
        self.conn.execute("BEGIN")
        try:
            result = fn()
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        finally:
            self._in_transaction = False
        self.conn.execute("COMMIT")
        return result


class Clock:
    def __init__(self) -> None:
        self.ms = START_MS

    def advance(self, ms: int) -> None:
        self.ms += ms


class FakeRpc:
    """Each target gets its own database, as each Durable Object has its own SQLite."""

    def __init__(self, clock: Clock, folder: Path | None = None) -> None:
        self.clock = clock
        self.folder = folder  # None: in memory; else one SQLite file per object, to open in tests
        self.dbs: dict[str, SqliteExec] = {}
        self.calls: list[tuple[str, str]] = []
        self.instances: dict[str, MasterLedger] = {}  # container instances' ledgers of the master key

    def store(self, target: str) -> Any:
        if target not in self.dbs:
            self.dbs[target] = SqliteExec(str(self.folder / f"{target}.sqlite") if self.folder else ":memory:")
        db = self.dbs[target]
        return DirectoryStore(db) if target == DIRECTORY else KeyStore(db)

    async def call(self, target: str, op: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((target, op))
        wire = json.loads(json.dumps(payload))
        run = directory_op if target == DIRECTORY else key_op
        return json.loads(json.dumps(run(self.store(target), op, wire, self.clock.ms)))

    async def instance_ledger(self, name: str) -> MasterLedger:
        """What a container instance books master-key traffic in: registered with the directory first."""
        await self.call(DIRECTORY, "add_ledger_holder", {"instance": name})
        return self.instances.setdefault(name, MasterLedger(SqliteExec()))

    async def master_ledger(self, start_day: str, end_day: str) -> list[dict[str, Any]]:
        legacy = (await self.call(MASTER, "ledger", {"start_day": start_day, "end_day": end_day}))["rows"]
        holders = (await self.call(DIRECTORY, "ledger_holders", {}))["instances"]
        return [*legacy, *(row for name in holders for row in self.instances[name].rows(start_day, end_day))]

    async def master_recent(self, limit: int) -> list[dict[str, Any]]:
        holders = (await self.call(DIRECTORY, "ledger_holders", {}))["instances"]
        return [row for name in holders for row in self.instances[name].recent(limit)]
