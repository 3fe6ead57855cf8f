"""The two Durable Objects behind virtual keys. Thin: convert, call keys.ops, return a plain value.

- `VirtualKey`: one object per key, named by the key's token (sha256 hex). Holds the record, the
  trailing-minute window, leases, the ledger and the recent requests; every /v1/* request with that key asks it
  twice (admit from the edge, book from the container's object). An object that never held a key answers every
  question read-only (`_NO_KEY`): it creates no schema and writes nothing, so guessed keys leave no storage.
  The object named ops.MASTER holds only the master-key usage booked before each container instance kept its own
  (metering.ledger).
- `KeyDirectory`: the one object named ops.DIRECTORY. The index for /key/list, alias lookup and uniqueness, the
  list of keys a spend report asks, and the container instances holding master-key usage. Reached by admin calls,
  and by each container instance once per wake-up.

Each operation is a Durable Object RPC method (`await stub.admit(payload)`, keys.rpc): a plain dict in, a plain
object out, a refusal or a bad call returned as a value — an exception would cross with the whole traceback. Both
objects also answer the same operations as `POST {OP_PATH}<op>` with JSON, the way a Worker one version behind
asks them during a deploy (and keys.rpc asks an object one version behind).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from workers import DurableObject, Response

from bridge.js_interop import from_rpc, js_dict
from bridge.responses import json_response
from keys.directory import DirectoryStore
from keys.ops import DIRECTORY_OPS, KEY_OPS, directory_op, key_op
from keys.store import KeyStore
from protocol import OP_PATH
from rules import json_scan
from rules.errors import invalid_api_key
from storage.sql import has_schema
from storage.workerd_sql import WorkerdSql

BAD_CALL = {"error": "bad_call"}  # an op or a payload field the caller did not send: a gateway bug
# What an object that never held a key answers, read-only: a stranger's guess leaves nothing behind. Every other
# op ("create", "restore") is one that gives a key object its storage.
_NO_KEY: dict[str, dict[str, Any]] = {
    "admit": {"refusal": asdict(invalid_api_key()), "headers": {}, "lease": None, "models": [], "grant": None,
              "prices": {}},
    "record": {"record": None}, "change": {"record": None}, "delete": {"record": None},
    "take": {"state": None}, "ledger": {"rows": []}, "book": {}, "finish": {},
    "owner": {"model": None, "pending": False}, "recent": {"rows": []},
}


def _rpc_method(op: str) -> Callable[[Any, Any], Awaitable[Any]]:
    async def method(self: Any, payload: Any = None) -> Any:
        # Answered as a JS object made in one crossing: a dict would be walked again by the runtime's conversion
        # at the boundary (SDK 1.9.5's python_to_rpc: a Python call per value). The caller reads either shape.
        return js_dict(self._run(op, from_rpc(payload) or {}))

    method.__name__ = op
    return method


def _safely(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return run()
    except (KeyError, TypeError, ValueError):
        return BAD_CALL


async def _over_fetch(request: Any, run: Callable[[str, dict[str, Any]], dict[str, Any]]) -> Response:
    path = urlsplit(str(request.url)).path
    if not path.startswith(OP_PATH):
        return json_response({"error": "not an internal path"}, status=404)
    try:
        payload = json_scan.loads(str(await request.js_object.text()) or "{}")
    except ValueError:
        return json_response(BAD_CALL, status=400)
    answer = run(path[len(OP_PATH):], payload)
    return json_response(answer, status=400 if answer is BAD_CALL else 200)


class VirtualKey(DurableObject):
    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self._store: KeyStore | None = None

    def _run(self, op: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self._store is None:  # migrations run once per instance, synchronously, before any op
            db = WorkerdSql(self.ctx.storage)
            if op in _NO_KEY and not has_schema(db):
                return _NO_KEY[op]  # never created: no schema, no write, for any guess
            self._store = KeyStore(db)
        store = self._store
        return _safely(lambda: key_op(store, op, payload, int(time.time() * 1000)))

    async def fetch(self, request: Any) -> Response:
        return await _over_fetch(request, self._run)


class KeyDirectory(DurableObject):
    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self._store: DirectoryStore | None = None

    def _run(self, op: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self._store is None:
            self._store = DirectoryStore(WorkerdSql(self.ctx.storage))
        store = self._store
        return _safely(lambda: directory_op(store, op, payload, int(time.time() * 1000)))

    async def fetch(self, request: Any) -> Response:
        return await _over_fetch(request, self._run)


for _op in KEY_OPS:  # the RPC surface: exactly the operations keys.ops answers
    setattr(VirtualKey, _op, _rpc_method(_op))
for _op in DIRECTORY_OPS:
    setattr(KeyDirectory, _op, _rpc_method(_op))
