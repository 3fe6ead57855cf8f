"""bench/cpuprofile.py on a hand-made profile and Wasm module: names, categories, per-request figures."""

from __future__ import annotations

import json
from pathlib import Path

from bench.cpuprofile import Frame, category, load, summarise, wasm_export_names


def wasm_with_exports(exports: list[tuple[str, int, int]]) -> bytes:
    """A module holding only an export section: (name, kind, index) each; short names, small counts."""
    body = bytes([len(exports)])
    for name, kind, index in exports:
        body += bytes([len(name)]) + name.encode() + bytes([kind, index])
    return b"\0asm\1\0\0\0" + bytes([7, len(body)]) + body


def test_export_names_are_functions_only(tmp_path: Path) -> None:
    wasm = tmp_path / "m.wasm"
    wasm.write_bytes(wasm_with_exports([("_PyEval_EvalFrameDefault", 0, 7), ("memory", 2, 7), ("JsProxy_new", 0, 9)]))
    assert wasm_export_names(wasm) == {7: "_PyEval_EvalFrameDefault", 9: "JsProxy_new"}


def test_categories() -> None:
    wasm = "wasm://wasm/020fb45e"
    assert category(Frame("_PyEval_EvalFrameDefault", wasm)).startswith("Python interpreter")
    assert category(Frame("wasm-function[12]", wasm)).startswith("Python interpreter")  # static C: unnamed
    assert category(Frame("JsProxy_GetAttr", wasm)).startswith("Pyodide bridge, C side")
    assert category(Frame("memcpy", wasm)).startswith("libc")
    assert category(Frame("hasMethod", "file:///x/node_modules/pyodide/pyodide.asm.js")).startswith(
        "Pyodide bridge, JS side")
    assert category(Frame("_Request", "node:internal/deps/undici/undici")) == "Node fetch (undici)"
    assert category(Frame("pull", "node:internal/webstreams/readablestream")) == "Node streams (web streams)"
    assert category(Frame("handle", "file:///x/local/http_server.mjs")) == "local runtime glue (local/*.mjs)"
    assert category(Frame("(garbage collector)", "")).startswith("V8 garbage collector")
    assert category(Frame("GenericJSToWasmWrapper", "")).startswith("V8 builtins")


def test_load_names_wasm_frames_and_summarise_counts_busy_samples(tmp_path: Path) -> None:
    wasm = tmp_path / "m.wasm"
    wasm.write_bytes(wasm_with_exports([("_PyEval_EvalFrameDefault", 0, 3)]))
    profile = {
        "nodes": [
            {"id": 1, "callFrame": {"functionName": "(root)", "url": ""}},
            {"id": 2, "callFrame": {"functionName": "wasm-function[3]", "url": "wasm://wasm/ab"}},
            {"id": 3, "callFrame": {"functionName": "(idle)", "url": ""}},
            {"id": 4, "callFrame": {"functionName": "_Request", "url": "node:internal/deps/undici/undici"}},
        ],
        "samples": [2, 2, 2, 4, 3, 3, 3, 3],
        "timeDeltas": [250] * 8,
        "startTime": 0,
        "endTime": 2000,  # 8 samples over 2 ms: 0.25 ms each
    }
    path = tmp_path / "p.cpuprofile"
    path.write_text(json.dumps(profile))
    samples, per_sample_ms = load(path, wasm)
    assert per_sample_ms == 0.25 and samples[0] == Frame("_PyEval_EvalFrameDefault", "wasm://wasm/ab")
    out = summarise(samples, per_sample_ms, requests=2)
    assert out["samples"] == 4 and out["busy_ms_per_request"] == 0.5  # idle left out
    top = out["by_category"][0]
    assert top == {"what": "Python interpreter and stdlib (C in Wasm)", "share": 0.75, "ms_per_request": 0.375}
    assert out["by_function"][0]["what"] == "_PyEval_EvalFrameDefault ab"
    assert out["category_top"]["Node fetch (undici)"][0]["ms_per_request"] == 0.125
