"""ops.Rpc over Durable Object stubs: each call is one `fetch` to the target object's internal path."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import js

from js_interop import js_dict, raw_js
from keys.ops import DIRECTORY, MASTER
from keys.sql import Row
from protocol import DIRECTORY_BINDING, KEYS_BINDING, OP_PATH

# (instances, start_day, end_day) -> the master key's ledger rows those container instances booked
InstanceLedgers = Callable[[list[str], str, str], Awaitable[list[Row]]]


class KeyServiceError(RuntimeError):
    """A key object answered something other than 200: a gateway bug, answered as a 500."""


class JsRpc:
    def __init__(self, env: Any, instance_ledgers: InstanceLedgers | None = None) -> None:
        self._env = env
        self._instance_ledgers = instance_ledgers  # the edge's way to the container instances' ledgers

    async def call(self, target: str, op: str, payload: dict[str, Any]) -> dict[str, Any]:
        namespace = raw_js(getattr(self._env, DIRECTORY_BINDING if target == DIRECTORY else KEYS_BINDING))
        stub = namespace.get(namespace.idFromName(target))
        request = js.Request.new(f"http://keys{OP_PATH}{op}", js_dict({"method": "POST", "body": json.dumps(payload)}))
        response = await stub.fetch(request)  # JS in, JS out
        text = str(await response.text())
        if response.status != 200:
            raise KeyServiceError(f"{op} answered {response.status}")
        return json.loads(text)

    async def master_ledger(self, start_day: str, end_day: str) -> list[Row]:
        legacy = (await self.call(MASTER, "ledger", {"start_day": start_day, "end_day": end_day}))["rows"]
        if self._instance_ledgers is None:
            return legacy
        holders = (await self.call(DIRECTORY, "ledger_holders", {}))["instances"]
        return [*legacy, *await self._instance_ledgers(holders, start_day, end_day)]
