"""The recent-requests ring: the last MAX_RECENT requests of a key (in its object) or of the master key (in each
container instance's), each with its time, model, status, tokens, cost, latency and request id — never a prompt,
a body or a key. Written in the transaction that books or refuses the request (no call of its own); read by
`GET /spend/logs` (keys.admin) for the operator's "why was this key refused at 10:42".
"""

from __future__ import annotations

from typing import Any

from metering.charge import Charge
from metering.periods import iso_ms
from storage.sql import Row, SqlExec

MAX_RECENT = 100  # rows kept per key, and per container instance for the master key (docs/keys.md)
RECENT_TABLE = (
    "CREATE TABLE recent (seq INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, request_id TEXT, model TEXT,"
    " status INTEGER NOT NULL, code TEXT, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,"
    " cost REAL NOT NULL, latency_ms INTEGER)"
)
# The ring's bound kept by SQLite itself as each row goes in: no statement of ours per request (bench/LEVERS.md).
# A migration once shipped is never edited: a new MAX_RECENT needs a migration that drops and recreates it.
RECENT_RING_TRIGGER = (
    "CREATE TRIGGER recent_ring AFTER INSERT ON recent"
    f" BEGIN DELETE FROM recent WHERE seq <= NEW.seq - {MAX_RECENT}; END"
)


COLUMNS = ("ts_ms", "request_id", "model", "status", "code", "prompt_tokens", "completion_tokens", "cost",
           "latency_ms")
_INSERT = f"INSERT INTO recent ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"


def note(db: SqlExec, charge: Charge, now_ms: int) -> None:
    """One request, booked or refused; the oldest beyond MAX_RECENT leaves at once (RECENT_RING_TRIGGER)."""
    outcome, usage = charge.outcome, charge.usage
    add(db, [{"ts_ms": now_ms, "request_id": outcome.request_id, "model": charge.model, "status": outcome.status,
              "code": outcome.code, "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
              "cost": charge.cost, "latency_ms": outcome.latency_ms}])


def add(db: SqlExec, rows: list[Row]) -> None:
    """Rows as `latest` gives them, oldest first (a regenerated key's move them to its new object)."""
    for row in rows:
        db.exec(_INSERT, *(row[name] for name in COLUMNS))


def latest(db: SqlExec, limit: int) -> list[Row]:
    """Newest first."""
    return db.exec(f"SELECT {', '.join(COLUMNS)} FROM recent ORDER BY seq DESC LIMIT ?",
                   max(0, min(limit, MAX_RECENT)))


def log_rows(per_key: list[tuple[dict[str, Any], list[Row]]], limit: int) -> list[dict[str, Any]]:
    """`GET /spend/logs`: the rows of each key (its directory row: token, key_alias) merged, newest first, in
    LiteLLM's names where its spend logs have one (`api_key` is the key's token, never the key)."""
    merged = [(row["ts_ms"], index, key, row) for key, rows in per_key for index, row in enumerate(rows)]
    merged.sort(key=lambda item: (-item[0], item[1]))
    return [_log_row(key, row) for _, _, key, row in merged[:limit]]


def _log_row(key: dict[str, Any], row: Row) -> dict[str, Any]:
    latency = row["latency_ms"]
    status = int(row["status"])
    return {"request_id": row["request_id"], "api_key": key["token"], "key_alias": key.get("key_alias"),
            "model": row["model"], "status": "failure" if status >= 400 or row["code"] else "success",
            "http_status": status, "error_code": row["code"], "prompt_tokens": row["prompt_tokens"],
            "completion_tokens": row["completion_tokens"],
            "total_tokens": row["prompt_tokens"] + row["completion_tokens"], "spend": row["cost"],
            "startTime": iso_ms(row["ts_ms"] - (latency or 0)), "endTime": iso_ms(row["ts_ms"]), "latency_ms": latency}
