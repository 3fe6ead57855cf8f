"""Floor (b): one Durable Object RPC call writing one SQLite row, next to the Worker answering alone."""

import time
from typing import Any

import js
from workers import DurableObject, WorkerEntrypoint

BARE_PATH = "/bare"


def raw(binding: Any) -> Any:
    """The JS object behind the SDK's wrapper: calls on it go straight to JS (as worker/js_interop.py raw_js)."""
    return getattr(binding, "_binding", binding)


class Default(WorkerEntrypoint):
    async def fetch(self, request: Any) -> Any:
        path = str(js.URL.new(request.url).pathname)
        if path == BARE_PATH:
            return js.Response.new('{"booked":0}')
        namespace = raw(self.env.LEDGER)
        booked = await namespace.get(namespace.idFromName("floor")).book(path)
        return js.Response.new(f'{{"booked":{booked.rows}}}')


class Ledger(DurableObject):
    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self.sql = raw(self.ctx.storage).sql
        self.sql.exec("CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY, path TEXT, at REAL)")

    async def book(self, path: str) -> dict[str, int]:
        cursor = self.sql.exec("INSERT INTO hits (path, at) VALUES (?, ?)", path, time.time())
        return {"rows": cursor.rowsWritten}
