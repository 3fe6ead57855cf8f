"""The Durable Object's JS objects behind the supervisor's protocols: `ctx.container` and `ctx.storage`.

Both Python SDKs hand these over as raw JS objects (workerd's built-in `workers` module) or thin wrappers
(workers-runtime-sdk 1.9.5); attribute access and awaiting their promises work the same on both.
"""

from __future__ import annotations

import asyncio
from typing import Any

import js
from pyodide.ffi import JsException

from bridge.js_interop import js_dict, present
from container.supervisor import ContainerError

CONTAINER_PORT = 4000  # where LiteLLM listens inside the container (container/start.sh)
CONTAINER_ORIGIN = "http://container"  # host part is ignored by getTcpPort(); kept for readable URLs
READINESS_PATH = "/health/liveliness"  # cheap; LiteLLM's /health would call every provider
PROBE_TIMEOUT_MS = 2_000  # one probe: getTcpPort().fetch can hang while the container boots
STORAGE_KEY = "lifecycle"


async def _settle(value: Any) -> None:
    if present(value):
        await value


class JsContainer:
    """ContainerHandle over `ctx.container`; JS failures become ContainerError."""

    def __init__(self, container: Any) -> None:
        self._container = container

    @property
    def running(self) -> bool:
        return bool(self._container.running)

    async def start(self, env: dict[str, str]) -> None:
        try:
            await _settle(self._container.start(js_dict({"env": env, "enableInternet": True})))
        except JsException as exc:
            raise ContainerError(str(exc)) from None

    async def monitor(self) -> None:
        try:
            await self._container.monitor()
        except JsException as exc:
            raise ContainerError(str(exc)) from None

    def signal(self, signo: int) -> None:
        try:
            self._container.signal(signo)
        except JsException as exc:
            raise ContainerError(str(exc)) from None

    async def destroy(self) -> None:
        try:
            await _settle(self._container.destroy())
        except JsException as exc:
            raise ContainerError(str(exc)) from None

    def getTcpPort(self, port: int) -> Any:  # the platform's name
        return self._container.getTcpPort(port)

    async def probe(self) -> bool:
        """One readiness probe with its own timeout: any failure means not ready yet."""
        init = js_dict({"method": "GET", "signal": js.AbortSignal.timeout(PROBE_TIMEOUT_MS)})
        try:
            port = self._container.getTcpPort(CONTAINER_PORT)
            response = await asyncio.wait_for(port.fetch(CONTAINER_ORIGIN + READINESS_PATH, init),
                                              PROBE_TIMEOUT_MS / 1000 + 0.5)
            await response.text()  # our own tiny probe body: reading it frees the connection
            return response.status == 200
        except (JsException, TimeoutError, OSError):
            return False


class DurableStateStore:
    """StateStore over `ctx.storage` (key-value API and the alarm)."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage

    async def load(self) -> str | None:
        stored = await self._storage.get(STORAGE_KEY)
        return stored if isinstance(stored, str) else None

    async def save(self, text: str) -> None:
        await self._storage.put(STORAGE_KEY, text)

    async def set_alarm(self, at_ms: int) -> None:
        await self._storage.setAlarm(at_ms)
