"""Glue that runs inside Pyodide next to the worker (never part of it): builds entrypoints and converts at the
boundary exactly like workerd's Python entrypoint helper. local/pyodide_host.mjs runs this file in its own
globals and calls the functions below from JS.
"""

import asyncio
import inspect
from typing import Any

import workers


async def _fetch(instance: Any, js_request: Any) -> Any:
    return workers.python_to_rpc(await instance.fetch(workers.python_from_rpc(js_request)))


def call_entrypoint(cls: type, ctx: Any, env: Any, js_request: Any) -> asyncio.Future:
    """A fresh instance per request, as workerd does for WorkerEntrypoint classes."""
    return asyncio.ensure_future(_fetch(cls(ctx, env), js_request))


def construct(cls: type, ctx: Any, env: Any) -> Any:
    return cls(ctx, env)


def call_fetch(instance: Any, js_request: Any) -> asyncio.Future:
    return asyncio.ensure_future(_fetch(instance, js_request))


async def _method(instance: Any, name: str, js_args: Any) -> Any:
    """One RPC call, converted at the boundary as workerd's introspection.wrapper_func does."""
    result = getattr(instance, name)(*[workers.python_from_rpc(arg) for arg in js_args])
    if inspect.isawaitable(result):
        result = await result
    return workers.python_to_rpc(result)


def call_method(instance: Any, name: str, js_args: Any) -> asyncio.Future:
    """An RPC call on the live instance (local/rpc.mjs); the JS side has checked that `name` is a method."""
    return asyncio.ensure_future(_method(instance, name, js_args))


async def _alarm(instance: Any) -> None:
    handler = getattr(instance, "alarm", None)
    if handler is not None:
        await handler()


def call_alarm(instance: Any) -> asyncio.Future:
    return asyncio.ensure_future(_alarm(instance))


async def _scheduled(instance: Any, controller: Any) -> None:
    handler = getattr(instance, "scheduled", None)
    if handler is None:
        raise TypeError("the worker's Default entrypoint has no scheduled() handler")
    # workerd hands env and ctx over as None: the handler reads self.env and self.ctx.
    await handler(controller, None, None)


def call_scheduled(cls: type, ctx: Any, env: Any, controller: Any) -> asyncio.Future:
    """A cron trigger: a fresh entrypoint instance, as for a request."""
    return asyncio.ensure_future(_scheduled(cls(ctx, env), controller))
