"""`sql.SqlExec` over a Durable Object's `ctx.storage` (workerd, or the local runtime's emulation).

Works on both Python SDKs: workerd's built-in `workers` module hands over `ctx.storage` raw,
workers-runtime-sdk 1.9.5 wraps it (converting every call); this module always talks to the raw JS
object (`js_interop.raw_js`). Rows end up as plain dicts with None for SQL NULL (Pyodide leaves `jsnull`
in converted rows). Bindings avoid workerd's traps: a Python bool would be stored as the text
'true', raw bytes as the text "b'...'", and integers past 2**53 do not bind at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pyodide.ffi import create_proxy, to_js

from bridge.js_interop import jsnull, present, raw_js

T = TypeVar("T")
MAX_SAFE_INTEGER = 2**53 - 1


def _binding(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is float:  # most bindings: passed as they are, without the checks below
        return value
    if value is None:
        return jsnull  # Python None would reach JS as undefined
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, bytes | bytearray):
        return to_js(bytes(value))
    if isinstance(value, int) and abs(value) > MAX_SAFE_INTEGER:
        raise ValueError("integers beyond 2**53 do not survive a JS number: store them as TEXT")
    return value


def _cell(value: Any) -> Any:
    if not present(value):
        return None
    if isinstance(value, memoryview):
        return bytes(value)
    if hasattr(value, "to_py"):  # an ArrayBuffer (BLOB) left as a JS object
        return bytes(value.to_py())
    return value


def _plain(rows: Any) -> list[dict[str, Any]]:
    if hasattr(rows, "to_py"):  # a JS array of row objects (already Python if a wrapper converted it)
        rows = rows.to_py()
    return [{str(name): _cell(value) for name, value in dict(row).items()} for row in rows]


class WorkerdSql:
    def __init__(self, storage: Any) -> None:
        self._storage = raw_js(storage)
        self._sql = self._storage.sql
        self._step: Callable[[], None] | None = None  # what the running transaction calls back into
        self._callback: Any = None  # one JS function for all of them, made at the first (bench/LEVERS.md)

    def exec(self, query: str, *bindings: Any) -> list[dict[str, Any]]:
        return _plain(self._sql.exec(query, *(_binding(value) for value in bindings)).toArray())

    def transaction(self, fn: Callable[[], T]) -> T:
        """transactionSync: the result travels in a Python box, so no SDK converts it on the way. The callback
        JS calls is made once per object and kept (a proxy made and destroyed per call cost ~35 µs); it runs
        whichever `fn` is current, and transactions never nest (workerd refuses that)."""
        if self._callback is None:
            self._callback = create_proxy(self._run_step)
        box: list[T] = []
        self._step = lambda: box.append(fn())
        try:
            self._storage.transactionSync(self._callback)
        finally:
            self._step = None
        return box[0]

    def _run_step(self) -> None:
        step = self._step
        assert step is not None, "transactionSync called back outside a transaction"
        step()
