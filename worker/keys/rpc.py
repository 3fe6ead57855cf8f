"""ops.Rpc over Durable Object stubs: each call is one Durable Object RPC call (`await stub.admit(payload)`).

A plain dict goes in and comes back (bridge.js_interop.from_rpc, whichever SDK converted it). The objects return
refusals and bad calls as values (keys.objects), so a thrown error here is the platform's (the object could not
be reached) or a bug, and its text — which can hold the callee's traceback — never goes further than its class.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import js
from pyodide.ffi import JsException

from bridge.js_interop import BEHIND, binding, call_rpc, js_dict
from keys.ops import DIRECTORY, MASTER
from protocol import DIRECTORY_BINDING, KEYS_BINDING, LEDGER_PATH, OP_PATH, RECENT_PATH
from storage.sql import Row

# (instances, internal path with its query) -> each container instance's JSON answer (protocol.LEDGER_PATH, …)
AskInstances = Callable[[list[str], str], Awaitable[list[dict[str, Any]]]]


class KeyServiceError(RuntimeError):
    """A key object could not answer (or answered a bad call): a gateway bug or an outage, answered as a 500."""


class JsRpc:
    def __init__(self, env: Any, ask_instances: AskInstances | None = None) -> None:
        self._env = env
        self._ask_instances = ask_instances  # the edge's way to the container instances' ledgers

    async def call(self, target: str, op: str, payload: dict[str, Any]) -> dict[str, Any]:
        namespace = binding(self._env, DIRECTORY_BINDING if target == DIRECTORY else KEYS_BINDING)
        stub = namespace.get(namespace.idFromName(target))
        try:
            answer = await call_rpc(stub, op, payload)
        except JsException as exc:  # never its message: it can carry the callee's traceback
            raise KeyServiceError(f"{op} failed: {exc.name}") from None
        if answer is BEHIND:  # no such method: an object one version behind
            answer = await _over_fetch(stub, op, payload)
        if not isinstance(answer, dict) or "error" in answer:
            raise KeyServiceError(f"{op}: bad call")
        return answer

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


async def _over_fetch(stub: Any, op: str, payload: dict[str, Any]) -> Any:
    """The same operation as the objects answered it before RPC (`POST OP_PATH<op>`, JSON both ways): what an object
    still running the previous version understands during a deploy."""
    request = js.Request.new(f"http://keys{OP_PATH}{op}", js_dict({"method": "POST", "body": json.dumps(payload)}))
    response = await stub.fetch(request)
    text = str(await response.text())
    return json.loads(text) if response.status == 200 else None
