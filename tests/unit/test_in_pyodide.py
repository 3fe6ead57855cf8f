"""The worker's JS adapters in real Pyodide (node + the local runtime's Pyodide), on both Python SDK shapes."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("pyodide_probe.mjs")
NEEDS_NODE = pytest.mark.skipif(shutil.which("node") is None or not (ROOT / "node_modules/pyodide").is_dir(),
                                reason="needs node and `make install`")


def probe() -> str:
    return subprocess.run(["node", str(PROBE)], capture_output=True, text=True, timeout=120, check=True).stdout


@NEEDS_NODE
def test_rows_bindings_and_transactions_convert_on_raw_and_wrapped_storage() -> None:
    out = probe()
    for sdk in ("raw", "sdk"):
        # SQL NULL -> None (not jsnull), BLOB -> bytes
        assert f"{sdk} [{{'a': 1, 'b': None, 'c': 't', 'd': 2.5, 'e': b'\\x01\\x02'}}] <class 'bytes'>" in out
        assert f"{sdk} tx {{'x': [1, 2]}}" in out  # a Python result is returned unconverted
        assert f"{sdk} exception came back as ZeroDivisionError" in out  # and a Python error re-raised
        assert f"{sdk} tx after it own result 2" in out  # each later one runs its own function (one JS callback)
        # None -> null (not undefined), True -> 1, bytes -> Uint8Array
        assert f"{sdk} binding types [['null', 'number', 'number', 'string', 'Uint8Array', 'number']]" in out


@NEEDS_NODE
def test_a_binding_is_read_as_its_js_object_from_either_env() -> None:
    """bridge.js_interop.binding: workerd's raw env and SDK 1.9.5's per-request wrapper give the same JS object,
    and an unset or undefined binding is None."""
    out = probe()
    for shape in ("raw", "wrapped"):
        assert f"binding {shape} True None None" in out


@NEEDS_NODE
def test_js_dict_makes_the_same_object_either_way_it_takes() -> None:
    """Flat values are set one by one (the fast way), nested ones go through to_js: the objects are the same, a
    JS object is passed as itself, None is left undefined (so JSON drops it) as to_js leaves it."""
    out = probe()
    assert 'js_dict {"method":"POST","n":3,"f":1.5,"ok":true,"x-h":"v","signal":{}} True True' in out
    assert 'js_dict {"headers":{"a":"b"},"list":[1,null,{"c":false}],"s":"t"} True -' in out
    assert "js_dict {} True -" in out
    assert 'js_dict {"sdk":{"k":1}} True -' in out  # converted, never a proxy of the Python dict


@NEEDS_NODE
def test_an_rpc_result_is_plain_python_in_either_shape_with_none_for_null() -> None:
    """bridge.js_interop.from_rpc: a JS Map (workerd's built-in SDK) and a plain object (SDK 1.9.5) read the same,
    nested values included, and JS null is None, never `jsnull` (which would break `is None` tests)."""
    out = probe()
    expected = "{'n': None, 'u': None, 'big': 1099511627776, 'inner': {'list': [1, None, {'deep': None}], " \
               "'text': 't', 'flag': False}}"
    assert f"rpcMap {expected}" in out and f"rpcObject {expected}" in out
    assert "python {'a': [None, {'b': 1}]}" in out  # what an SDK already converted passes unchanged
    # A JS object to_py keeps as it is (a Date, a function) comes back as is: never converted again and again,
    # which would recurse until Pyodide's stack overflowed (a fatal error for the whole isolate).
    assert "odd ['f', 'n', 'when'] None JsProxy JsProxy" in out


@NEEDS_NODE
def test_background_work_runs_at_once_and_only_what_waits_is_kept() -> None:
    """tasks.background in Pyodide (Python 3.13): a coroutine that never waits runs to its end within the call and
    schedules no event-loop callback (each is a JS timer and a new proxy); one that waits is kept referenced until it
    ends, then let go; one queued with now=False runs later; a failure stays in its task."""
    out = probe()
    assert "background never waits ['booked'] 0 0" in out
    assert "background waits ['booked'] 1" in out  # started, pending, held
    assert "background woke ['booked', 'woke'] 0" in out
    # now=False (a booking): nothing runs within the call, so the answer's last bytes move on first
    assert "background queued ['booked', 'woke'] 1" in out
    assert "background queued ran ['booked', 'woke', 'booked'] 0" in out
    assert "background failed quietly 0" in out


@NEEDS_NODE
def test_call_rpc_tells_a_missing_method_from_a_failing_one() -> None:
    """bridge.js_interop.call_rpc, the one place the deploy rule lives: an answer comes back as plain Python; a method
    the object lacks (workerd's TypeError: an object one version behind) is BEHIND, for the caller's fetch
    fallback; any other failure is raised, never taken for a missing method."""
    out = probe()
    assert "call_rpc answer {'got': 7, 'none': None}" in out
    assert "call_rpc missing True" in out
    assert "call_rpc broken raised Error" in out
