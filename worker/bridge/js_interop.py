"""The few JS <-> Python conversions the gateway needs, written once, valid on both Python SDKs.

workerd's built-in `workers` module and workers-runtime-sdk 1.9.5 differ (raw vs wrapped ctx, env
and storage), so this code talks to the JS objects directly: headers via `js_object.headers`,
responses via their `js_object`, and JS `null` checked as Pyodide's `jsnull` as well as None.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import js
from pyodide.ffi import JsException, JsProxy, to_js

try:
    from pyodide.ffi import jsnull
except ImportError:  # Pyodide before 0.26 maps null to None
    jsnull = None


def present(value: Any) -> bool:
    return value is not None and value is not jsnull


def header(js_headers: Any, name: str) -> str | None:
    value = js_headers.get(name)
    return value if present(value) else None


def iter_headers(js_headers: Any) -> list[tuple[str, str]]:
    """Name/value pairs; Set-Cookie comes once per cookie, as the Fetch spec iterates them.

    One crossing for all of them (Array.from + to_py): a crossing per header costs more than the work.
    """
    return [(str(name), str(value)) for name, value in js.Array.from_(js_headers).to_py()]


def make_headers(pairs: Iterable[tuple[str, str]]) -> Any:
    """JS Headers from pairs, built in one crossing."""
    return js.Headers.new(to_js([list(pair) for pair in pairs]))


def raw_js(value: Any) -> Any:
    """The JS object behind a binding or `ctx.storage`, so calls on it go straight to JS.

    workers-runtime-sdk 1.9.5 wraps Durable Object namespaces and storage to convert every call: a stub's
    `fetch` goes through `pyfetch` and its response wrapper, each SQL `exec` converts its arguments and its
    cursor. The gateway already passes JS Requests and reads JS results, so that work is pure overhead
    (bench/LEVERS.md). workerd's built-in `workers` module hands these over raw already.
    """
    if isinstance(value, JsProxy):
        return value
    return getattr(value, "_binding", value)  # an SDK wrapper; one of another shape works too, only slower


def binding(env: Any, name: str) -> Any | None:
    """A binding of the Worker env as its JS object (stubs then take and give JS), or None when it is not bound.

    Read on the JS env itself: SDK 1.9.5 wraps `env` anew for every request to a Worker, and its wrapper checks a
    binding's JS type and wraps it on each first read (several crossings per binding and request)."""
    value = getattr(getattr(env, "_env", env), name, None)
    return raw_js(value) if present(value) else None  # an env of another shape may still hand over a wrapper


def js_dict(values: dict[str, Any]) -> Any:
    """A plain JS object (RequestInit, ResponseInit, container start options, RPC payloads), nested values too.

    Values that cross as they are (strings, numbers, JS objects) are set one by one on a new object: ~2.5 times
    cheaper than `to_js` for a RequestInit (bench/LEVERS.md). Anything `to_js` converts deeply (a dict, a list,
    bytes) takes the `to_js` way for the whole object. Types are matched exactly: values come from our own code
    and from `from_rpc`, which never leaves a dict subclass (SDK 1.9.5's JsDict) in what it returns."""
    if _NESTED.isdisjoint(map(type, values.values())):
        made = js.Object.new()
        for name, value in values.items():
            setattr(made, name, value)
        return made
    return to_js(values, dict_converter=js.Object.fromEntries)


_NESTED = frozenset({dict, list, tuple, set, frozenset, bytes, bytearray, memoryview})


def from_rpc(value: Any) -> Any:
    """A value that crossed Durable Object RPC, as plain Python whoever converted it: a raw stub's result is a JS
    Map under workerd's built-in SDK and a plain JS object under SDK 1.9.5, an SDK stub's is a dict already; an
    argument a method receives may be either. JS null comes out as None, never `jsnull`.

    Exact type tests first: `isinstance(value, JsProxy)` runs Pyodide's Python-level metaclass check, which for
    the scalars of a booking's payload cost more than the rest of the walk (bench/LEVERS.md)."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if isinstance(value, dict):  # a dict subclass too (SDK 1.9.5's JsDict): made plain
        return {str(name): from_rpc(item) for name, item in value.items()}
    if kind is list:
        return [from_rpc(item) for item in value]
    if not present(value):
        return None
    if isinstance(value, JsProxy):
        value = value.to_py()  # Map and Object both become dicts, arrays lists (one crossing)
        return value if isinstance(value, JsProxy) else from_rpc(value)  # what to_py keeps is never retried
    return value


_PLAIN = frozenset({str, int, float, bool})

BEHIND = object()  # call_rpc's answer when the object has no such method: it runs the version before (a deploy)


async def call_rpc(stub: Any, method: str, payload: dict[str, Any]) -> Any:
    """`await stub.<method>(payload)` by Durable Object RPC, its answer as plain Python (from_rpc), or BEHIND when
    the object lacks the method (workerd rejects with a TypeError), for the caller's fallback over `fetch`. Any
    other JS error is raised as it came: its message can carry the callee's traceback, never pass it on."""
    try:
        return from_rpc(await getattr(stub, method)(js_dict(payload)))
    except JsException as exc:
        if exc.name != "TypeError":
            raise
    return BEHIND


def js_response_of(response: Any) -> Any:
    """The JS Response behind whatever a fetch returned: an SDK wrapper or already a JS object."""
    return getattr(response, "js_object", response)


def env_lookup(env: Any):
    """A `name -> str | None` view of the Worker env for settings (vars may be JSON numbers)."""

    def lookup(name: str) -> str | None:
        value = getattr(env, name, None)
        return str(value) if present(value) else None

    return lookup
