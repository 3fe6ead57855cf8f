"""Reading a `node --cpu-prof` profile of the local runtime: self time by kind of code, within a time window.

Pyodide's Wasm module has no name section, so V8 names its functions `wasm-function[N]`; the module's export
section (Pyodide exports the CPython API for its dynamic linker) gives names to the exported ones. The rest
are static C functions of CPython or Pyodide: counted as Python (C in Wasm), unnamed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WASM_FUNCTION = re.compile(r"^wasm-function\[(\d+)\]$")
# Pyodide's C side of the JS bridge: JsProxy (JS objects seen from Python), PyProxy (the reverse),
# the hiwire/JsRef handle table, conversions, and the JS calls made from C (Emscripten `EM_JS`).
FFI_C = re.compile(r"JsProxy|JsRef|hiwire|js2python|python2js|pyproxy|Jsv|JsBuffer|JsArray|JsMap|JsObj|"
                   r"JsException|JsString|_js_|jslib|em_js|_pyodide|pyodide_", re.IGNORECASE)
LIBC = re.compile(r"^(dlmalloc|dlfree|dlrealloc|malloc|free|realloc|calloc|memcpy|memmove|memset|memcmp|strlen|"
                  r"emscripten_builtin_.*|sbrk)$")
IDLE = {"(idle)"}


@dataclass(frozen=True)
class Frame:
    name: str
    url: str


def _leb(data: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def _name(data: bytes, i: int) -> tuple[str, int]:
    n, i = _leb(data, i)
    return data[i:i + n].decode("utf-8", "replace"), i + n


def wasm_export_names(wasm: Path) -> dict[int, str]:
    """Function index -> exported name. Export indices count imports first, as V8's `wasm-function[N]` does."""
    data = wasm.read_bytes()
    i, names = 8, {}
    while i < len(data):
        section, i = data[i], i + 1
        size, i = _leb(data, i)
        if section == 7:  # exports: name, kind, index
            count, j = _leb(data, i)
            for _ in range(count):
                name, j = _name(data, j)
                kind, j = data[j], j + 1
                index, j = _leb(data, j)
                if kind == 0:  # a function
                    names.setdefault(index, name)
        i += size
    return names


def category(frame: Frame) -> str:
    """The kind of code a sampled leaf frame belongs to."""
    name, url = frame.name, frame.url
    if name == "(garbage collector)":
        return "V8 garbage collector (JS heap)"
    if name in ("(program)", "(root)") or (not url and name.startswith("(")):
        return "V8 and native code outside JS (program)"
    if url.startswith("wasm://") or name.startswith("wasm:"):
        if FFI_C.search(name):
            return "Pyodide bridge, C side (JsProxy / PyProxy / conversions)"
        if LIBC.match(name):
            return "libc in Wasm (malloc, memcpy)"
        return "Python interpreter and stdlib (C in Wasm)"
    if "pyodide" in url:
        return "Pyodide bridge, JS side (pyodide.asm.js)"
    if not url:  # builtins and V8 stubs (e.g. JS<->Wasm wrappers)
        return "V8 builtins and JS-Wasm call stubs"
    if "undici" in url or "fetch" in url:
        return "Node fetch (undici)"
    if "webstreams" in url or "streams" in url:
        return "Node streams (web streams)"
    if "_http_" in url or url in ("node:http", "node:net") or "/net" in url:
        return "Node HTTP server and sockets"
    if "/local/" in url:
        return "local runtime glue (local/*.mjs)"
    return "other Node internals"


def load(profile_path: Path, wasm: Path | None) -> tuple[list[Frame], float]:
    """The leaf frame of every sample, and the wall time per sample in ms (samples are evenly spaced)."""
    profile: dict[str, Any] = json.loads(profile_path.read_text())
    names = wasm_export_names(wasm) if wasm else {}
    frames = {}
    for node in profile["nodes"]:
        call = node["callFrame"]
        name = call["functionName"]
        match = WASM_FUNCTION.match(name)
        if match and int(match.group(1)) in names:
            name = names[int(match.group(1))]
        frames[node["id"]] = Frame(name or "(anonymous)", call.get("url", ""))
    samples = [frames[node_id] for node_id in profile["samples"]]
    return samples, (profile["endTime"] - profile["startTime"]) / 1000 / max(1, len(samples))


def _label(frame: Frame) -> str:
    return f"{frame.name} {frame.url.rsplit('/', 1)[-1]}".strip()


def summarise(samples: list[Frame], per_sample_ms: float, requests: int, top: int = 25) -> dict[str, Any]:
    """Self time per category and per function (idle left out), in ms per request and as a share."""
    busy = [f for f in samples if f.name not in IDLE]
    by_category = Counter(category(f) for f in busy)
    by_function = Counter(_label(f) for f in busy)
    total = max(1, len(busy))

    def rows(counter: Counter[str], n: int | None) -> list[dict[str, Any]]:
        return [{"what": k, "share": round(v / total, 3), "ms_per_request": round(v * per_sample_ms / requests, 3)}
                for k, v in counter.most_common(n)]

    inside: dict[str, Counter[str]] = {}
    for f in busy:
        inside.setdefault(category(f), Counter())[_label(f)] += 1
    return {"samples": len(busy), "busy_ms_per_request": round(len(busy) * per_sample_ms / requests, 3),
            "by_category": rows(by_category, None), "by_function": rows(by_function, top),
            "category_top": {k: rows(v, 6) for k, v in inside.items()}}
