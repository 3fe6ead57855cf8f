"""The edge's internal calls to the container instances' Durable Objects (never reachable from a client's path)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import js
from pyodide.ffi import JsException

from bridge.js_interop import from_rpc, js_dict, raw_js
from protocol import CONTAINER_BINDING, INSTANCE_HEADER, INTERNAL_METHOD


def containers_of(env: Any) -> Any | None:
    """The containers' Durable Object namespace as a JS object (its stubs then take and give JS), or None."""
    bound = getattr(env, CONTAINER_BINDING, None)
    return None if bound is None else raw_js(bound)


async def ask_each(namespace: Any, names: list[str], path: str) -> list[dict[str, Any]]:
    """One internal call to each named instance at once, by Durable Object RPC: their answers, in the order of
    `names`. An instance still running the version before RPC (a deploy under way) is asked over `fetch`."""

    async def ask(name: str) -> dict[str, Any]:
        stub = namespace.get(namespace.idFromName(name))
        try:
            return from_rpc(await getattr(stub, INTERNAL_METHOD)(js_dict({"instance": name, "path": path})))
        except JsException as exc:
            if exc.name != "TypeError":  # no such method: the object is one version behind
                raise
        request = js.Request.new(f"http://gateway{path}", js_dict({"headers": {INSTANCE_HEADER: name}}))
        answer = await stub.fetch(request)
        return json.loads(str(await answer.text()))

    return list(await asyncio.gather(*(ask(name) for name in names)))
