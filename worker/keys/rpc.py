"""ops.Rpc over Durable Object stubs: each call is one `fetch` to the target object's internal path."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import js

from bridge.js_interop import js_dict, raw_js
from keys.ops import DIRECTORY, MASTER
from protocol import DIRECTORY_BINDING, KEYS_BINDING, LEDGER_PATH, OP_PATH, RECENT_PATH
from storage.sql import Row

# (instances, internal path with its query) -> each container instance's JSON answer (protocol.LEDGER_PATH, …)
AskInstances = Callable[[list[str], str], Awaitable[list[dict[str, Any]]]]


class KeyServiceError(RuntimeError):
    """A key object answered something other than 200: a gateway bug, answered as a 500."""


class JsRpc:
    def __init__(self, env: Any, ask_instances: AskInstances | None = None) -> None:
        self._env = env
        self._ask_instances = ask_instances  # the edge's way to the container instances' ledgers

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
        # Kept, not migrated: MASTER's own object holds what deployments booked before each instance kept a
        # ledger. Reading it costs one call per spend report (never per request); moving it would need a write
        # into some instance's ledger that a redeploy may race, for no gain.
        legacy = (await self.call(MASTER, "ledger", {"start_day": start_day, "end_day": end_day}))["rows"]
        days = urlencode({"start_day": start_day, "end_day": end_day})
        return [*legacy, *await self._holders_rows(f"{LEDGER_PATH}?{days}")]

    async def master_recent(self, limit: int) -> list[Row]:
        return await self._holders_rows(f"{RECENT_PATH}?{urlencode({'limit': limit})}")

    async def _holders_rows(self, ask: str) -> list[Row]:
        """The rows of every container instance holding master-key usage (the directory's ledger holders)."""
        if self._ask_instances is None:
            return []
        holders = (await self.call(DIRECTORY, "ledger_holders", {}))["instances"]
        return [row for answer in await self._ask_instances(holders, ask) for row in answer["rows"]]
