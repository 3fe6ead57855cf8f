"""`python -m bench.ring`: what the recent-requests ring (metering.recent.note) adds to one booking.

The ring is written inside the booking's transaction (keys.store.KeyStore.book for a virtual key, the container's
MasterLedger for the master key), so every request pays it, after its last byte. Measured on CPython's sqlite3
(the unit tests' stand-in for Durable Object SQLite) on a file (WAL, no fsync): each kind books with the ring and
without it (`note` replaced by nothing), in interleaved rounds; the ring's cost is the difference of the medians,
in µs per booking. In Pyodide the ring's one statement (its bound is a SQLite trigger's) also crosses the bridge
to the runtime's SQLite (local/do_sql.mjs, or workerd's), which this does not count.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .config import worker_module

ledger = worker_module("metering.ledger")  # worker/ modules, as workerd loads them (top-level names)
KeyStore = worker_module("keys.store").KeyStore
KeyRecord = worker_module("keys.record").KeyRecord
charge_module, Usage = worker_module("metering.charge"), worker_module("metering.usage").Usage

START_MS = 1_767_225_600_000
KINDS = ("key", "key_no_ring", "master", "master_no_ring")


# The unit tests' ctx.storage.sql + transactionSync over sqlite3 (worker/ must be on the path first: it imports it).
SqliteExec = importlib.import_module("tests.unit.keys.keys_fakes").SqliteExec


class _Db(SqliteExec):  # type: ignore[misc,valid-type]
    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        # WAL and no fsync per commit: a Durable Object's durability is the platform's (its output gate), and a
        # rollback journal or an fsync would measure this disk (~0.1-1 ms a commit here), not the statements.
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = OFF")


@contextlib.contextmanager
def _ring(on: bool) -> Iterator[None]:
    """Bookings with the ring (as shipped) or without it: metering.ledger.book calls `note` by its module name."""
    if on:
        yield
        return
    shipped = ledger.note
    ledger.note = lambda db, charge, now_ms: None
    try:
        yield
    finally:
        ledger.note = shipped


def _charge(i: int) -> Any:
    return charge_module.Charge("gpt-4o", Usage(120, 40), 0.00042, None,
                                charge_module.Outcome(200, None, f"req-{i:08d}", 35))


def _booker(kind: str, folder: Path) -> Callable[[int], None]:
    db = _Db(folder / f"{kind}.sqlite")
    if kind.startswith("key"):
        store = KeyStore(db)
        store.create(KeyRecord("a" * 64, "sk-...abcd", created_ms=START_MS, updated_ms=START_MS,
                               budget_anchor_ms=START_MS))
        return lambda i: store.book(None, _charge(i), START_MS + i)
    master = ledger.MasterLedger(db)
    return lambda i: master.book(_charge(i), START_MS + i)


def measure(rounds: int, per_round: int) -> dict[str, Any]:
    """µs per booking, median of the rounds, per kind; the ring's cost per kind of ledger."""
    with tempfile.TemporaryDirectory(prefix="bench-ring-") as tmp:
        bookers = {kind: _booker(kind, Path(tmp)) for kind in KINDS}
        per_kind: dict[str, list[float]] = {kind: [] for kind in KINDS}
        done = dict.fromkeys(KINDS, 0)
        for kind in KINDS:  # past the ring's first MAX_RECENT rows, where its DELETE starts to delete
            with _ring(not kind.endswith("no_ring")):
                for _ in range(300):
                    bookers[kind](done[kind])
                    done[kind] += 1
        for r in range(rounds):
            for kind in KINDS[r % len(KINDS):] + KINDS[:r % len(KINDS)]:
                with _ring(not kind.endswith("no_ring")):
                    start = time.perf_counter()
                    for _ in range(per_round):
                        bookers[kind](done[kind])
                        done[kind] += 1
                    per_kind[kind].append((time.perf_counter() - start) * 1e6 / per_round)
    us = {kind: round(statistics.median(values), 2) for kind, values in per_kind.items()}
    return {"rounds": rounds, "per_round": per_round, "us_per_booking": us,
            "ring_us": {"key": round(us["key"] - us["key_no_ring"], 2),
                        "master": round(us["master"] - us["master_no_ring"], 2)}}


def table(ring: dict[str, Any]) -> str:
    us, cost = ring["us_per_booking"], ring["ring_us"]
    return "\n".join([
        f"| recent-requests ring † (CPython sqlite3 on a file, {ring['rounds']} interleaved rounds of "
        f"{ring['per_round']} bookings) | with the ring (µs/booking) | without | the ring costs |",
        "|---|---|---|---|",
        f"| virtual key: `KeyStore.book` | {us['key']:.1f} | {us['key_no_ring']:.1f} | {cost['key']:+.1f} µs |",
        f"| master key: `MasterLedger.book` | {us['master']:.1f} | {us['master_no_ring']:.1f} "
        f"| {cost['master']:+.1f} µs |"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ring", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--per-round", type=int, default=2000)
    args = p.parse_args(argv)
    ring = measure(args.rounds, args.per_round)
    print(table(ring))
    print(json.dumps(ring), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
