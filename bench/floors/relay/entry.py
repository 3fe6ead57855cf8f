"""Floor (a): Worker → Durable Object → upstream, relaying the raw JS Request and Response (wrangler.jsonc)."""

from typing import Any

import js
from workers import DurableObject, WorkerEntrypoint


def raw(binding: Any) -> Any:
    """The JS object behind the SDK's wrapper: calls on it go straight to JS (as worker/js_interop.py raw_js)."""
    return getattr(binding, "_binding", binding)


class Default(WorkerEntrypoint):
    async def fetch(self, request: Any) -> Any:
        namespace = raw(self.env.RELAY)
        return await namespace.get(namespace.idFromName("relay")).fetch(request.js_object)


class Relay(DurableObject):
    async def fetch(self, request: Any) -> Any:
        incoming = request.js_object
        url = js.URL.new(incoming.url)
        # The client's request as the init: method, headers and the body stream move over unread.
        return await js.fetch(f"{self.env.UPSTREAM_URL}{url.pathname}{url.search}", incoming)
