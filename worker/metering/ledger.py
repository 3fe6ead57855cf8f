"""The usage ledger: requests, failures, tokens and cost per UTC day and model.

Every key object keeps its own (keys.store). The master key's traffic is booked by the container
instance that served it, in that Durable Object's own SQLite (`MasterLedger`): no extra call per request.
"""

from __future__ import annotations

from metering.charge import Charge
from metering.periods import utc_day
from metering.recent import RECENT_RING_TRIGGER, RECENT_TABLE, latest, note
from storage.sql import Row, SqlExec, migrate

LEDGER_TABLE = (
    "CREATE TABLE ledger (day TEXT NOT NULL, model TEXT NOT NULL, requests INTEGER NOT NULL,"
    " failed_requests INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,"
    " cost REAL NOT NULL, PRIMARY KEY (day, model))"
)
MASTER_MIGRATIONS: list[list[str]] = [[LEDGER_TABLE], [RECENT_TABLE], [RECENT_RING_TRIGGER]]


def book(db: SqlExec, charge: Charge, now_ms: int) -> None:
    """One request (a failed one with its zero tokens) added to its day and model, and to the recent requests."""
    note(db, charge, now_ms)
    usage = charge.usage
    db.exec(
        "INSERT INTO ledger (day, model, requests, failed_requests, prompt_tokens, completion_tokens, cost)"
        " VALUES (?, ?, 1, ?, ?, ?, ?) ON CONFLICT (day, model) DO UPDATE SET"
        " requests = requests + 1, failed_requests = failed_requests + excluded.failed_requests,"
        " prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
        " completion_tokens = completion_tokens + excluded.completion_tokens, cost = cost + excluded.cost",
        utc_day(now_ms), charge.model or "", int(usage.failed), usage.prompt_tokens, usage.completion_tokens,
        charge.cost)


def rows(db: SqlExec, start_day: str, end_day: str) -> list[Row]:
    return db.exec("SELECT day, model, requests, failed_requests, prompt_tokens, completion_tokens, cost"
                   " FROM ledger WHERE day >= ? AND day <= ? ORDER BY day, model", start_day, end_day)


class MasterLedger:
    """The master key's ledger in one container instance's Durable Object."""

    def __init__(self, db: SqlExec) -> None:
        self._db = db
        migrate(db, MASTER_MIGRATIONS)

    def book(self, charge: Charge, now_ms: int) -> None:
        book(self._db, charge, now_ms)

    def rows(self, start_day: str, end_day: str) -> list[Row]:
        return rows(self._db, start_day, end_day)

    def recent(self, limit: int) -> list[Row]:
        return latest(self._db, limit)
