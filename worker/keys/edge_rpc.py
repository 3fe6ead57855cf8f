"""ops.Rpc for the edge: each call is one `fetch` to the target Durable Object's internal path."""

from __future__ import annotations

import json
from typing import Any

import js

from js_interop import js_dict, raw_js
from keys.objects import OP_PATH
from keys.ops import DIRECTORY

KEYS_BINDING = "VIRTUAL_KEYS"  # VirtualKey objects (wrangler.jsonc durable_objects.bindings)
DIRECTORY_BINDING = "KEY_DIRECTORY"  # the KeyDirectory object


class KeyServiceError(RuntimeError):
    """A key object answered something other than 200: a gateway bug, answered as a 500."""


class JsRpc:
    def __init__(self, env: Any) -> None:
        self._env = env

    async def call(self, target: str, op: str, payload: dict[str, Any]) -> dict[str, Any]:
        namespace = raw_js(getattr(self._env, DIRECTORY_BINDING if target == DIRECTORY else KEYS_BINDING))
        stub = namespace.get(namespace.idFromName(target))
        request = js.Request.new(f"http://keys{OP_PATH}{op}", js_dict({"method": "POST", "body": json.dumps(payload)}))
        response = await stub.fetch(request)  # JS in, JS out
        text = str(await response.text())
        if response.status != 200:
            raise KeyServiceError(f"{op} answered {response.status}")
        return json.loads(text)
