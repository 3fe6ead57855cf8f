"""storage.workerd_sql in real Pyodide (node + the local runtime's Pyodide), on both Python SDK shapes."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROBE = Path(__file__).with_name("workerd_sql_probe.mjs")


@pytest.mark.skipif(shutil.which("node") is None or not (ROOT / "node_modules/pyodide").is_dir(),
                    reason="needs node and `make install`")
def test_rows_bindings_and_transactions_convert_on_raw_and_wrapped_storage() -> None:
    out = subprocess.run(["node", str(PROBE)], capture_output=True, text=True, timeout=120, check=True).stdout
    for sdk in ("raw", "sdk"):
        # SQL NULL -> None (not jsnull), BLOB -> bytes
        assert f"{sdk} [{{'a': 1, 'b': None, 'c': 't', 'd': 2.5, 'e': b'\\x01\\x02'}}] <class 'bytes'>" in out
        assert f"{sdk} tx {{'x': [1, 2]}}" in out  # a Python result is returned unconverted
        assert f"{sdk} exception came back as ZeroDivisionError" in out  # and a Python error re-raised
        # None -> null (not undefined), True -> 1, bytes -> Uint8Array
        assert f"{sdk} binding types [['null', 'number', 'number', 'string', 'Uint8Array', 'number']]" in out
