"""The two Durable Objects behind virtual keys. Thin: decode, call keys.ops, encode.

- `VirtualKey`: one object per key, named by the key's token (sha256 hex). Holds the record, the
  trailing-minute window, leases and the ledger; every /v1/* request with that key asks it twice (admit
  from the edge, finish from the container's object). The object named ops.MASTER holds only the
  master-key usage booked before each container instance kept its own (keys.ledger).
- `KeyDirectory`: the one object named ops.DIRECTORY. The index for /key/list, alias lookup and
  uniqueness, the list of keys a spend report asks, and the container instances holding master-key usage.
  Reached by admin calls, and by each container instance once per wake-up.

Both answer POST {OP_PATH}<op> with a JSON body, from the edge and the container's object only (the edge
never forwards a client's request to them).
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from workers import DurableObject, Response

from keys.directory import DirectoryStore
from keys.ops import directory_op, key_op
from keys.store import KeyStore
from keys.workerd_sql import WorkerdSql
from responses import json_response

OP_PATH = "/__keys/"


async def _answer(request: Any, run: Any) -> Response:
    path = urlsplit(str(request.url)).path
    if not path.startswith(OP_PATH):
        return json_response({"error": "not an internal path"}, status=404)
    payload = json.loads(str(await request.js_object.text()) or "{}")
    try:
        return json_response(run(path[len(OP_PATH):], payload, int(time.time() * 1000)))
    except KeyError as exc:  # an op or a payload field the caller did not send
        return json_response({"error": f"bad internal call: {exc}"}, status=400)


class VirtualKey(DurableObject):
    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self._store: KeyStore | None = None

    async def fetch(self, request: Any) -> Response:
        if self._store is None:  # migrations run once per instance, synchronously, before any op
            self._store = KeyStore(WorkerdSql(self.ctx.storage))
        store = self._store
        return await _answer(request, lambda op, payload, now_ms: key_op(store, op, payload, now_ms))


class KeyDirectory(DurableObject):
    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self._store: DirectoryStore | None = None

    async def fetch(self, request: Any) -> Response:
        if self._store is None:
            self._store = DirectoryStore(WorkerdSql(self.ctx.storage))
        store = self._store
        return await _answer(request, lambda op, payload, now_ms: directory_op(store, op, payload, now_ms))
