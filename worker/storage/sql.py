"""The storage surface the key objects need, and schema migrations kept in code.

`SqlExec` is what workerd's `ctx.storage.sql` offers once its JS rows are converted (see
`workerd_sql`); unit tests implement it over CPython's `sqlite3`. `transaction` is
`ctx.storage.transactionSync`: synchronous only, rolled back when `fn` raises.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Row = dict[str, Any]


class SqlExec(Protocol):
    def exec(self, query: str, *bindings: Any) -> list[Row]: ...

    def transaction(self, fn: Callable[[], T]) -> T: ...


def one(db: SqlExec, query: str, *bindings: Any) -> Row | None:
    rows = db.exec(query, *bindings)
    return rows[0] if rows else None


def has_schema(db: SqlExec) -> bool:
    """Whether `migrate` ever ran here: read-only, so asking it of an empty object leaves it empty."""
    return one(db, "SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'") is not None


def migrate(db: SqlExec, migrations: Sequence[Sequence[str]]) -> int:
    """Applies the migrations not yet applied, each with its version bump in one transaction.

    `migrations[i]` takes the schema from version i to i + 1; they are never edited once shipped,
    only appended to. Running it again is a no-op. Returns the version now in place.
    """
    db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = one(db, "SELECT version FROM schema_version")
    if row is None:
        db.exec("INSERT INTO schema_version (version) VALUES (0)")
    current = int(row["version"]) if row else 0
    for version in range(current, len(migrations)):
        statements = migrations[version]

        def apply(statements: Sequence[str] = statements, target: int = version + 1) -> None:
            for statement in statements:
                db.exec(statement)
            db.exec("UPDATE schema_version SET version = ?", target)

        db.transaction(apply)
    return max(current, len(migrations))
