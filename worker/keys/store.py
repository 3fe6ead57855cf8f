"""A key object's state in its own SQLite: the record, the trailing-minute window, leases (with what each
reserved: keys.reservations), the per-token prices learned from bookings, and the ledger.

Every method is synchronous and runs inside one `transaction`: in a Durable Object nothing else runs
between the read and the write (no await), so decisions hold exactly under any concurrency.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, fields, replace
from typing import Any, TypeVar

from keys.limits import WINDOW_MS, Verdict, Window, decide
from keys.record import ALL_MODELS, KeyRecord
from keys.reservations import INPUT, OUTPUT, Held, Need, least_tokens
from metering.charge import Charge, Outcome
from metering.ledger import LEDGER_TABLE, book, rows
from metering.pricing import Price
from metering.recent import MAX_RECENT, RECENT_RING_TRIGGER, RECENT_TABLE, add, latest, note
from metering.usage import Usage
from storage.sql import SqlExec, migrate, one

T = TypeVar("T")
_UNREAD = object()  # KeyStore._record before the record is read

# A lease whose release never came (client gone before headers) frees itself, and what it reserved, after 15 min.
# It and limits.WINDOW_MS are also written into the triggers of MIGRATIONS: a new value needs a migration that
# recreates them, or the counts and the deletions disagree.
LEASE_TTL_MS = 900_000

MIGRATIONS: list[list[str]] = [
    [
        "CREATE TABLE record (id INTEGER PRIMARY KEY CHECK (id = 1), data TEXT NOT NULL)",
        "CREATE TABLE window_events (ts_ms INTEGER NOT NULL, requests INTEGER NOT NULL, tokens INTEGER NOT NULL)",
        "CREATE INDEX window_events_ts ON window_events (ts_ms)",
        "CREATE TABLE leases (id TEXT PRIMARY KEY, started_ms INTEGER NOT NULL)",
        LEDGER_TABLE,
    ],
    [  # reservations (leases written before hold nothing) and the prices they are made at
        "ALTER TABLE leases ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE leases ADD COLUMN usd REAL NOT NULL DEFAULT 0",
        "CREATE TABLE prices (model TEXT PRIMARY KEY, input REAL NOT NULL, output REAL NOT NULL)",
    ],
    [  # the stored responses this key created: only it may address them (model_choice)
        "CREATE TABLE responses (id TEXT PRIMARY KEY, model TEXT NOT NULL, created_ms INTEGER NOT NULL)",
        "CREATE INDEX responses_created ON responses (created_ms)",
    ],
    [  # the recent-requests ring (metering.recent)
        RECENT_TABLE,
    ],
    [  # what has left the window or expired goes as a new row comes in, with no statement of ours (bench/LEVERS.md)
        RECENT_RING_TRIGGER,
        "CREATE TRIGGER leases_expire AFTER INSERT ON leases"
        f" BEGIN DELETE FROM leases WHERE started_ms <= NEW.started_ms - {LEASE_TTL_MS}; END",
        "CREATE TRIGGER window_events_leave AFTER INSERT ON window_events"
        f" BEGIN DELETE FROM window_events WHERE ts_ms <= NEW.ts_ms - {WINDOW_MS}; END",
    ],
]
# The newest stored responses a key owns: an older one answers 404 to it too (docs/keys.md). A row is ~300 bytes.
MAX_OWNED_RESPONSES = 10_000
_RECORD_FIELDS = frozenset(f.name for f in fields(KeyRecord))


class KeyStore:
    def __init__(self, db: SqlExec) -> None:
        self._db = db
        migrate(db, MIGRATIONS)
        # Memos of what this object last committed, each saving a statement per request. Sound because this object
        # is the only writer of its SQLite; a transaction that fails forgets them (`_transaction`).
        # The prices the last booking learned: a booking carries the same table almost every time.
        self._learned: dict[str, Price] | None = None
        # The record as last read or written (None: there is none): every admission and booking reads it.
        self._record: KeyRecord | object | None = _UNREAD

    # -- the record -----------------------------------------------------------------------------

    def load(self) -> KeyRecord | None:
        if self._record is not _UNREAD:
            return self._record  # type: ignore[return-value]
        row = one(self._db, "SELECT data FROM record WHERE id = 1")
        record = None
        if row is not None:
            data = json.loads(row["data"])
            record = KeyRecord(**{name: value for name, value in data.items() if name in _RECORD_FIELDS})
        self._record = record
        return record

    def save(self, record: KeyRecord) -> None:
        self._db.exec("INSERT INTO record (id, data) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                      json.dumps(asdict(record)))
        self._record = record

    def _transaction(self, fn: Callable[[], T]) -> T:
        """`fn` in one transaction; when it fails (rolled back), the memos may hold what never committed."""
        try:
            return self._db.transaction(fn)
        except BaseException:
            self._record, self._learned = _UNREAD, None
            raise

    def create(self, record: KeyRecord) -> bool:
        """False when this object already holds a key (a live or a deleted one): tokens are never reused."""
        def run() -> bool:
            if self.load() is not None:
                return False
            self.save(record)
            return True
        return self._transaction(run)

    def change(self, settings: dict[str, Any], now_ms: int) -> KeyRecord | None:
        def run() -> KeyRecord | None:
            record = self._current(now_ms)
            if record is None:
                return None
            changed = record.with_settings(settings, now_ms)
            self.save(changed)
            return changed
        return self._transaction(run)

    def delete(self, now_ms: int) -> KeyRecord | None:
        """Stops the key at once; its ledger stays for spend reports, as LiteLLM keeps deleted keys."""
        def run() -> KeyRecord | None:
            record = self._current(now_ms)
            if record is None:
                return None
            gone = KeyRecord(**{**asdict(record), "deleted_ms": now_ms, "updated_ms": now_ms})
            self.save(gone)
            self._db.exec("DELETE FROM leases")
            self._db.exec("DELETE FROM window_events")
            return gone
        return self._transaction(run)

    def current(self, now_ms: int) -> KeyRecord | None:
        """The live record with its spend rolled over to the current budget period (None if deleted)."""
        return self._transaction(lambda: self._current(now_ms))

    def _current(self, now_ms: int) -> KeyRecord | None:
        record = self.load()
        if record is None or record.deleted_ms is not None:
            return None
        rolled = record.rolled_over(now_ms)
        if rolled is not record:
            self.save(rolled)
        return rolled

    # -- regenerate: the state moves to the object of the new token ---------------------------------

    def take_state(self, now_ms: int) -> dict[str, Any] | None:
        """The live record and the ledger, handed out once: the object is emptied in the same transaction,
        so of concurrent regenerations of one key exactly one gets them (the others get None)."""
        def run() -> dict[str, Any] | None:
            record = self._current(now_ms)
            if record is None:
                return None
            state = {"record": asdict(record), "ledger": self._db.exec("SELECT * FROM ledger"),
                     "prices": self._db.exec("SELECT model, input, output FROM prices")}
            state["responses"] = self._db.exec("SELECT id, model, created_ms FROM responses")
            state["recent"] = latest(self._db, MAX_RECENT)[::-1]
            for table in ("record", "window_events", "leases", "ledger", "prices", "responses", "recent"):
                self._db.exec(f"DELETE FROM {table}")
            self._record = None
            return state
        self._learned = None
        return self._transaction(run)

    def import_state(self, state: dict[str, Any]) -> bool:
        """Into the new key's object, or back into the old one when the regeneration cannot complete: there a
        request still in flight at the take may have booked a row since, so rows add up."""
        self._learned = None  # the state brings its own prices

        def run() -> bool:
            if self.load() is not None:
                return False
            self.save(KeyRecord(**state["record"]))
            for row in state["ledger"]:
                self._db.exec("INSERT INTO ledger (day, model, requests, failed_requests, prompt_tokens,"
                              " completion_tokens, cost) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (day, model)"
                              " DO UPDATE SET requests = requests + excluded.requests,"
                              " failed_requests = failed_requests + excluded.failed_requests,"
                              " prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
                              " completion_tokens = completion_tokens + excluded.completion_tokens,"
                              " cost = cost + excluded.cost", row["day"], row["model"], row["requests"],
                              row["failed_requests"], row["prompt_tokens"], row["completion_tokens"], row["cost"])
            self._learn({row["model"]: Price(row["input"], row["output"]) for row in state.get("prices", [])})
            for row in state.get("responses", []):  # a regenerated key keeps its stored responses
                self._own(row["id"], row["model"], row["created_ms"])
            add(self._db, state.get("recent", []))  # and its recent requests
            return True
        return self._transaction(run)

    # -- per request -----------------------------------------------------------------------------

    def admit(self, now_ms: int, model: str | None, need: Need | None = None,
              request_id: str | None = None) -> tuple[Verdict, str | None, KeyRecord | None]:
        """The verdict, the lease to hand back to `book` when admitted (holding what the request reserved),
        and the record. `need` None reserves nothing. A refusal of a live key is noted in its recent requests."""
        def run() -> tuple[Verdict, str | None, KeyRecord | None]:
            record = self._current(now_ms)
            window = self._window(now_ms, record, need) if record is not None else Window()
            priced = record is not None and record.max_budget is not None and need is not None \
                and need.kind in (OUTPUT, INPUT)
            verdict = decide(record, window, now_ms, model, need, self.prices(record) if priced else {})
            if verdict.refusal is not None:
                if record is not None:
                    refusal = verdict.refusal
                    note(self._db, Charge(model, Usage(0, 0, True), 0.0,
                                          outcome=Outcome(refusal.status, refusal.code, request_id, 0)), now_ms)
                return verdict, None, record
            lease = secrets.token_hex(8)
            held = verdict.reservation
            self._db.exec("INSERT INTO leases (id, started_ms, tokens, usd) VALUES (?, ?, ?, ?)", lease, now_ms,
                          held.tokens, float(held.usd))
            if record is not None and record.rpm_limit is not None:
                self._db.exec("INSERT INTO window_events (ts_ms, requests, tokens) VALUES (?, 1, 0)", now_ms)
            return verdict, lease, record
        return self._transaction(run)

    def book(self, lease: str | None, charge: Charge, now_ms: int, prices: dict[str, Price] | None = None) -> None:
        """Releases the lease and what it reserved, and books the request (failed ones too, with their zero
        tokens): the reservation is replaced by what it used. `prices`: LiteLLM's per-token prices by model, to
        learn (keys.reservations reserves at them)."""
        learned: list[dict[str, Price]] = []

        def run() -> None:
            if lease is not None:
                self._db.exec("DELETE FROM leases WHERE id = ?", lease)
            book(self._db, charge, now_ms)
            if charge.response_id is not None:
                self._own(charge.response_id, charge.model or "", now_ms)
            usage, cost = charge.usage, charge.cost
            record = self._current(now_ms)
            if record is None:
                return
            if record.tpm_limit is not None and usage.total_tokens > 0:
                self._db.exec("INSERT INTO window_events (ts_ms, requests, tokens) VALUES (?, 0, ?)",
                              now_ms, usage.total_tokens)
            if cost > 0:
                self.save(replace(record, spend=record.spend + cost))
            if prices:
                allowed = not record.models or ALL_MODELS in record.models
                wanted = {name: price for name, price in prices.items() if allowed or name in record.models}
                if wanted != self._learned:
                    self._learn(wanted)
                    learned.append(wanted)
        self._transaction(run)
        if learned:  # only once it is committed: a booking rolled back has taught nothing
            self._learned = learned[0]

    def _own(self, response_id: str, model: str, now_ms: int) -> None:
        self._db.exec("INSERT OR IGNORE INTO responses (id, model, created_ms) VALUES (?, ?, ?)",
                      response_id, model, now_ms)
        self._db.exec("DELETE FROM responses WHERE id IN (SELECT id FROM responses ORDER BY created_ms DESC, id"
                      " LIMIT -1 OFFSET ?)", MAX_OWNED_RESPONSES)

    def owner_of(self, response_id: str, lease: str | None) -> tuple[str | None, bool]:
        """The model of a stored response this key created (None: not its own, as far as is booked), and whether
        other requests of the key are still in flight (one of them may be creating it: ask again shortly)."""
        found = one(self._db, "SELECT model FROM responses WHERE id = ?", response_id)
        others = one(self._db, "SELECT COUNT(*) AS n FROM leases WHERE id IS NOT ?", lease)
        return (None if found is None else str(found["model"])), bool(others and others["n"])

    def prices(self, record: KeyRecord | None = None) -> dict[str, Price]:
        """The prices learned, of the models `record` may use."""
        rows = self._db.exec("SELECT model, input, output FROM prices")
        every = record is None or not record.models or ALL_MODELS in record.models
        return {row["model"]: Price(float(row["input"]), float(row["output"])) for row in rows
                if every or row["model"] in record.models}  # type: ignore[union-attr]

    def _learn(self, prices: dict[str, Price]) -> None:
        """Writes only the prices that changed: a booking passes the same table most of the time."""
        known = self.prices()
        for name, price in prices.items():
            if known.get(name) != price:
                self._db.exec("INSERT INTO prices (model, input, output) VALUES (?, ?, ?) ON CONFLICT (model)"
                              " DO UPDATE SET input = excluded.input, output = excluded.output", name,
                              float(price.input_per_token), float(price.output_per_token))

    def ledger(self, start_day: str, end_day: str) -> list[dict[str, Any]]:
        return rows(self._db, start_day, end_day)

    def recent(self, limit: int) -> list[dict[str, Any]]:
        return latest(self._db, limit)

    def _window(self, now_ms: int, record: KeyRecord, need: Need | None = None) -> Window:
        """Totals counted in SQL: rows cross into Python only as far as a reset time or a refusal needs them,
        so an admission costs the same with 10 or 10,000 requests in the key's last minute. Rows that left the
        window, and expired leases, are counted out here and deleted by the triggers when the next row comes."""
        since, live = now_ms - WINDOW_MS, now_ms - LEASE_TTL_MS
        totals = self._db.exec("SELECT COALESCE(SUM(requests), 0) AS requests, COALESCE(SUM(tokens), 0) AS tokens,"
                               " (SELECT COUNT(*) FROM leases WHERE started_ms > ?) AS inflight,"
                               " (SELECT COALESCE(SUM(tokens), 0) FROM leases WHERE started_ms > ?) AS held_tokens,"
                               " (SELECT COALESCE(SUM(usd), 0) FROM leases WHERE started_ms > ?) AS held_usd"
                               " FROM window_events WHERE ts_ms > ?", live, live, live, since)[0]
        requests, tokens = int(totals["requests"]), int(totals["tokens"])
        oldest_requests: list[int] = []
        if record.rpm_limit is not None and requests:
            wanted = max(1, requests - record.rpm_limit + 1)  # the first, or up to the one that frees a slot
            oldest_requests = [int(row["ts_ms"]) for row in self._db.exec(
                "SELECT ts_ms FROM window_events WHERE requests > 0 AND ts_ms > ? ORDER BY ts_ms LIMIT ?", since,
                wanted)]
        oldest_tokens: list[tuple[int, int]] = []
        if record.tpm_limit is not None and tokens:
            least = max(1, least_tokens(need or Need()))  # over the limit for this request: all of them, to find
            wanted = -1 if tokens + least > record.tpm_limit else 1  # when enough have left
            oldest_tokens = [(int(row["ts_ms"]), int(row["tokens"])) for row in self._db.exec(
                "SELECT ts_ms, tokens FROM window_events WHERE tokens > 0 AND ts_ms > ? ORDER BY ts_ms LIMIT ?",
                since, wanted)]
        return Window(requests, tokens, oldest_requests, oldest_tokens, int(totals["inflight"]),
                      Held(int(totals["held_tokens"]), float(totals["held_usd"])))
