"""The directory object's index of keys: listing, alias lookup and uniqueness. Never on a request's path.

It holds each key's summary (record.KeyRecord.summary), written by the admin endpoints after the key's
own object has changed; the key objects stay the truth for enforcement. It also knows which container
instances hold a part of the master key's ledger (metering.ledger.MasterLedger), for spend reports.
"""

from __future__ import annotations

import math
from typing import Any

from storage.sql import SqlExec, migrate, one

MIGRATIONS: list[list[str]] = [
    [
        "CREATE TABLE keys (token TEXT PRIMARY KEY, key_name TEXT NOT NULL, key_alias TEXT, user_id TEXT,"
        " team_id TEXT, blocked INTEGER NOT NULL, expires_ms INTEGER, created_ms INTEGER NOT NULL,"
        " deleted_ms INTEGER)",
        "CREATE UNIQUE INDEX keys_live_alias ON keys (key_alias) WHERE key_alias IS NOT NULL AND deleted_ms IS NULL",
        "CREATE INDEX keys_created ON keys (created_ms)",
    ],
    ["CREATE TABLE ledger_holders (instance TEXT PRIMARY KEY)"],
]
_COLUMNS = ("token", "key_name", "key_alias", "user_id", "team_id", "blocked", "expires_ms", "created_ms",
            "deleted_ms")
STATUSES = ("active", "expired", "revoked", "deleted")  # a key's status as /key/list filters and /key/info shows it


class DirectoryStore:
    def __init__(self, db: SqlExec) -> None:
        self._db = db
        migrate(db, MIGRATIONS)

    def add_ledger_holder(self, instance: str) -> None:
        self._db.exec("INSERT INTO ledger_holders (instance) VALUES (?) ON CONFLICT DO NOTHING", instance)

    def ledger_holders(self) -> list[str]:
        return [row["instance"] for row in self._db.exec("SELECT instance FROM ledger_holders ORDER BY instance")]

    def alias_owner(self, alias: str) -> str | None:
        row = one(self._db, "SELECT token FROM keys WHERE key_alias = ? AND deleted_ms IS NULL", alias)
        return row["token"] if row else None

    def known(self, token: str) -> bool:
        return one(self._db, "SELECT 1 AS x FROM keys WHERE token = ?", token) is not None

    def put(self, summary: dict[str, Any], replaces: str | None = None, new: bool = False) -> str:
        """Adds or refreshes a key's row (or renames `replaces` to it): "ok", "alias_taken", or "exists"
        when `new` and the token is known (tokens are never reused, deleted keys included)."""
        def run() -> str:
            if new and self.known(summary["token"]):
                return "exists"
            alias = summary.get("key_alias")
            owner = self.alias_owner(alias) if alias is not None else None
            if owner is not None and owner not in (summary["token"], replaces):
                return "alias_taken"
            if replaces is not None:
                self._db.exec("DELETE FROM keys WHERE token = ?", replaces)
            values = [int(summary[c]) if c == "blocked" else summary.get(c) for c in _COLUMNS]
            self._db.exec(f"INSERT INTO keys ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
                          f" ON CONFLICT (token) DO UPDATE SET "
                          + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:]), *values)
            return "ok"
        return self._db.transaction(run)

    def forget(self, token: str) -> None:
        self._db.exec("DELETE FROM keys WHERE token = ?", token)

    def everyone(self) -> list[dict[str, Any]]:
        """Every key ever made, deleted ones included: what a spend report asks."""
        return self._db.exec("SELECT token, key_name, key_alias FROM keys ORDER BY created_ms, token")

    def page(self, page: int, size: int, now_ms: int, filters: dict[str, str]) -> dict[str, Any]:
        """LiteLLM's /key/list paging (newest first) over `filters`: user_id, team_id, key_alias,
        key_hash, status. Without a status filter, deleted keys are left out (as LiteLLM does)."""
        where, bindings = [], []
        for name, column in (("user_id", "user_id"), ("team_id", "team_id"), ("key_alias", "key_alias"),
                             ("key_hash", "token")):
            if name in filters:
                where.append(f"{column} = ?")
                bindings.append(filters[name])
        where.append(_status_clause(filters.get("status")))
        bindings.extend([now_ms] * where[-1].count("?"))
        clause = " AND ".join(where)
        total_row = one(self._db, f"SELECT COUNT(*) AS n FROM keys WHERE {clause}", *bindings)
        total = int(total_row["n"]) if total_row else 0
        rows = self._db.exec(f"SELECT token FROM keys WHERE {clause} ORDER BY created_ms DESC, token"
                             " LIMIT ? OFFSET ?", *bindings, size, (page - 1) * size)
        return {"keys": [row["token"] for row in rows], "total_count": total, "current_page": page,
                "total_pages": math.ceil(total / size) if total else 0}


def _status_clause(status: str | None) -> str:
    live = "deleted_ms IS NULL"
    return {
        None: live,
        "deleted": "deleted_ms IS NOT NULL",
        "revoked": f"{live} AND blocked = 1",
        "expired": f"{live} AND blocked = 0 AND expires_ms IS NOT NULL AND expires_ms <= ?",
        "active": f"{live} AND blocked = 0 AND (expires_ms IS NULL OR expires_ms > ?)",
    }[status]
