"""Python Workers' own tooling: `pywrangler` (workers-py, locked in the dev group) runs from the project's
env, and the project is laid out the way pywrangler reads it. Checked with pywrangler's own functions."""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYWRANGLER = ROOT / ".venv" / "bin" / "pywrangler"
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())


def locked_version(name: str) -> str:
    return next(package["version"] for package in LOCK["package"] if package["name"] == name)


def run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{ROOT / 'node_modules' / '.bin'}:{os.environ['PATH']}", "NO_COLOR": "1"}
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
                          **kwargs)  # type: ignore[call-overload]


def test_pywrangler_runs_from_the_locked_env() -> None:
    version = run([str(PYWRANGLER), "--version"])
    assert version.returncode == 0, version.stderr
    assert locked_version("workers-py") in version.stdout
    help_text = run([str(PYWRANGLER), "--help"])
    assert help_text.returncode == 0, help_text.stderr
    assert "sync" in help_text.stdout
    # Every other command is proxied to wrangler, whose help it appends (the project's own wrangler, offline).
    assert "Wrangler Commands (proxied)" in help_text.stdout and "pywrangler deploy" in help_text.stdout


LAYOUT_PROBE = """
import json
from pywrangler import resolve, sync, utils
sync.check_requirements_txt()   # exits when a requirements.txt is present
utils.check_wrangler_config()   # exits without wrangler.jsonc / wrangler.toml
print(json.dumps({
    "pyproject": str(utils.find_pyproject_toml()),
    "python": utils.get_python_version(),
    "interpreter": utils.get_uv_pyodide_interp_name(),
    "requirements": resolve.parse_requirements(),
    "managed_sdk": resolve.MANAGED_SDK_PACKAGE,
    "vendor_dir": str(sync.get_vendor_modules_path().relative_to(utils.get_project_root())),
    "min_wrangler": list(utils.MIN_WRANGLER_VERSION),
}))
"""


def test_layout_is_what_pywrangler_reads() -> None:
    probe = run([str(ROOT / ".venv" / "bin" / "python"), "-c", LAYOUT_PROBE])
    assert probe.returncode == 0, probe.stdout + probe.stderr
    layout = json.loads(probe.stdout.strip().splitlines()[-1])
    assert layout["pyproject"] == str(ROOT / "pyproject.toml")
    # From wrangler.jsonc's compatibility date and flags: Python 3.13, the Python of Pyodide 0.28.2 that
    # workerd and the local runtime run.
    assert layout["python"] == "3.13" and layout["interpreter"].startswith("cpython-3.13.2-")
    pyodide = json.loads((ROOT / "node_modules" / "pyodide" / "package.json").read_text())["version"]
    assert pyodide == "0.28.2"
    # What it vendors into python_modules/: the SDK it manages, pinned to the version the local runtime tests.
    sdk = layout["managed_sdk"]
    assert layout["requirements"] == [f"{sdk}=={locked_version(sdk)}"] == ["workers-runtime-sdk==1.9.5"]
    ignored = (ROOT / ".gitignore").read_text().split()
    assert f"{layout['vendor_dir']}/" in ignored and ".venv-workers/" in ignored
    # `pywrangler dev` refuses a wrangler older than this; the project's (Node 20) one is older (docs/development.md).
    wrangler = json.loads((ROOT / "package.json").read_text())["devDependencies"]["wrangler"]
    assert tuple(int(part) for part in wrangler.split(".")) < tuple(layout["min_wrangler"]) == (4, 127, 1)
