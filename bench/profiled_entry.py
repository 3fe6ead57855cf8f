"""Main module for `python -m bench.edge_profile` only: the worker's `entry` plus profiler switches.

Copied next to a copy of worker/ in a throwaway tree (the runtime loads it as its main module); never deployed.
Runs in Pyodide, where the Worker and every Durable Object share one interpreter, so one cProfile sees both.
  GET /__bench/profile/start  - cProfile on
  GET /__bench/profile/stop   - cProfile off; answers the top functions as JSON
  GET /__bench/micro          - overhead-free timings of single per-request steps, in microseconds
  GET /__bench/handles/start  - count the event loop's scheduled callbacks (each a JS timer and a new proxy)
  GET /__bench/handles/stop   - stop counting; answers the count, and the cyclic collector's runs and time
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import json
import pstats
import time
from typing import Any
from urllib.parse import urlsplit

from workers import Response

import entry
from bridge.js_interop import env_lookup, header, iter_headers, make_headers
from edge.request_policy import Caps, judge
from jsonlog import EventLog
from settings import Settings

globals().update({name: getattr(entry, name) for name in dir(entry) if not name.startswith("_")})

TOP = 60
MICRO_ROUNDS = 300
_profile = cProfile.Profile()
_handles: dict[str, Any] = {"count": 0}
_gc_started: list[float] = []


def _gc_timer(phase: str, info: dict[str, Any]) -> None:
    """Python's cyclic collector, timed per generation: a full collection walks every object the isolate holds."""
    if phase == "start":
        _gc_started.append(time.perf_counter())
    elif _gc_started:
        spent = _handles.setdefault("gc_ms", {})
        generation = str(info["generation"])
        spent[generation] = spent.get(generation, 0.0) + (time.perf_counter() - _gc_started.pop()) * 1000
        runs = _handles.setdefault("gc_runs", {})
        runs[generation] = runs.get(generation, 0) + 1


def _count_handles(on: bool) -> None:
    """Every task step, done callback and JS-promise wake-up goes through the WebLoop's call_later (call_soon
    included): counted on the loop instance, so nothing else changes."""
    loop = asyncio.get_event_loop()
    if not on:
        loop.__dict__.pop("call_later", None)
        gc.callbacks.remove(_gc_timer)
        return
    plain = type(loop).call_later
    _handles.clear()
    _handles["count"] = 0
    gc.callbacks.append(_gc_timer)

    def counted(*args: Any, **kwargs: Any) -> Any:
        _handles["count"] += 1
        return plain(loop, *args, **kwargs)

    loop.call_later = counted  # type: ignore[method-assign]


def _stats() -> dict[str, Any]:
    stats = pstats.Stats(_profile).stats  # type: ignore[attr-defined]
    rows = [{"function": f"{path.rsplit('/', 1)[-1]}:{line}({name})", "calls": calls, "tottime_s": tt,
             "cumtime_s": ct} for (path, line, name), (_, calls, tt, ct, _) in stats.items()]
    return {"by_tottime": sorted(rows, key=lambda r: -r["tottime_s"])[:TOP],
            "by_cumtime": sorted(rows, key=lambda r: -r["cumtime_s"])[:TOP]}


def _time_us(step: Any) -> float:
    start = time.perf_counter()
    for _ in range(MICRO_ROUNDS):
        step()
    return round((time.perf_counter() - start) / MICRO_ROUNDS * 1e6, 2)


def _micro(env: Any, js_headers: Any) -> dict[str, float]:
    """What single steps of every proxied request cost, with the real env and the real request's headers."""
    lookup = env_lookup(env)
    settings = Settings.from_lookup(lookup)
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "bench"}]}).encode()
    log = EventLog("info", "edge")
    pairs = list(iter_headers(js_headers))
    return {
        "Settings.from_lookup(env_lookup(env))": _time_us(lambda: Settings.from_lookup(env_lookup(env))),
        "one env var through the FFI (env_lookup)": _time_us(lambda: lookup("LOG_LEVEL")),
        "header(headers, name) once": _time_us(lambda: header(js_headers, "authorization")),
        f"iter_headers, all {len(pairs)} request headers": _time_us(lambda: list(iter_headers(js_headers))),
        f"make_headers of {len(pairs)} pairs": _time_us(lambda: make_headers(pairs)),
        "request_policy.judge(chat body)": _time_us(
            lambda: judge(body, Caps(settings.max_num_retries, settings.max_request_seconds))),
        "EventLog.emit of a suppressed debug line": _time_us(lambda: log.emit("debug", "request", status=200)),
        "EventLog.emit of an info line (print to the runtime's stdout)": _time_us(
            lambda: log.emit("info", "bench_micro", request_id="x" * 32, status=200, ms=1.0)),
        "json.dumps of a request log record": _time_us(lambda: json.dumps(
            {"ts": time.time(), "level": "info", "component": "edge", "event": "request", "request_id": "x" * 32,
             "method": "POST", "route": "api", "path": "/v1/chat/completions", "status": 200, "ms": 1.0},
            separators=(",", ":"), default=str)),
    }


class Default(entry.Default):  # type: ignore[misc,valid-type]
    async def fetch(self, request: Any) -> Response:
        path = urlsplit(request.url).path
        if path == "/__bench/profile/start":
            _profile.enable()
            return Response("on")
        if path == "/__bench/profile/stop":
            _profile.disable()
            answer = json.dumps(_stats())
            _profile.clear()
            return Response(answer)
        if path == "/__bench/handles/start":
            _count_handles(True)
            return Response("on")
        if path == "/__bench/handles/stop":
            _count_handles(False)
            return Response(json.dumps(_handles))
        if path == "/__bench/micro":
            return Response(json.dumps(_micro(self.env, request.js_object.headers)))
        return await super().fetch(request)
