"""The two Durable Objects behind virtual keys. Thin: decode, call keys.ops, encode.

- `VirtualKey`: one object per key, named by the key's token (sha256 hex). Holds the record, the
  trailing-minute window, leases and the ledger; every /v1/* request with that key asks it twice (admit
  from the edge, book from the container's object). An object that never held a key answers every
  question read-only (`_NO_KEY`): it creates no schema and writes nothing, so guessed keys leave no
  storage. The object named ops.MASTER holds only the master-key usage booked before each container
  instance kept its own (metering.ledger).
- `KeyDirectory`: the one object named ops.DIRECTORY. The index for /key/list, alias lookup and
  uniqueness, the list of keys a spend report asks, and the container instances holding master-key usage.
  Reached by admin calls, and by each container instance once per wake-up.

Both answer POST {OP_PATH}<op> with a JSON body, from the edge and the container's object only (the edge
never forwards a client's request to them).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from workers import DurableObject, Response

from bridge.responses import json_response
from keys.directory import DirectoryStore
from keys.ops import directory_op, key_op
from keys.store import KeyStore
from protocol import OP_PATH
from rules import json_scan
from rules.errors import invalid_api_key
from storage.sql import has_schema
from storage.workerd_sql import WorkerdSql

# What an object that never held a key answers, read-only: a stranger's guess leaves nothing behind. Every other
# op ("create", "import") is one that gives a key object its storage.
_NO_KEY: dict[str, dict[str, Any]] = {
    "admit": {"refusal": asdict(invalid_api_key()), "headers": {}, "lease": None, "models": [], "grant": None,
              "prices": {}},
    "record": {"record": None}, "change": {"record": None}, "delete": {"record": None},
    "take": {"state": None}, "ledger": {"rows": []}, "book": {}, "finish": {},
    "owner": {"model": None, "pending": False}, "recent": {"rows": []},
}


def _op(request: Any) -> str | None:
    path = urlsplit(str(request.url)).path
    return path[len(OP_PATH):] if path.startswith(OP_PATH) else None


async def _answer(request: Any, op: str | None, run: Any) -> Response:
    if op is None:
        return json_response({"error": "not an internal path"}, status=404)
    payload = json_scan.loads(str(await request.js_object.text()) or "{}")
    try:
        return json_response(run(op, payload, int(time.time() * 1000)))
    except KeyError as exc:  # an op or a payload field the caller did not send
        return json_response({"error": f"bad internal call: {exc}"}, status=400)


class VirtualKey(DurableObject):
    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self._store: KeyStore | None = None

    async def fetch(self, request: Any) -> Response:
        op = _op(request)
        if self._store is None:  # migrations run once per instance, synchronously, before any op
            db = WorkerdSql(self.ctx.storage)
            if op in _NO_KEY and not has_schema(db):
                return json_response(_NO_KEY[op])  # never created: no schema, no write, for any guess
            self._store = KeyStore(db)
        store = self._store
        return await _answer(request, op, lambda op, payload, now_ms: key_op(store, op, payload, now_ms))


class KeyDirectory(DurableObject):
    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self._store: DirectoryStore | None = None

    async def fetch(self, request: Any) -> Response:
        if self._store is None:
            self._store = DirectoryStore(WorkerdSql(self.ctx.storage))
        store = self._store
        return await _answer(request, _op(request), lambda op, payload, now_ms: directory_op(store, op, payload,
                                                                                                now_ms))
