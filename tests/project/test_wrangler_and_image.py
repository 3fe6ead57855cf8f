"""wrangler.jsonc, the container image and the code agree: what `wrangler deploy` and the image build
would use is checked here, since neither a Cloudflare account nor Docker is available to the suite."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import protocol

ROOT = Path(__file__).resolve().parents[2]
WRANGLER = ROOT / "node_modules" / ".bin" / "wrangler"


def load_jsonc(path: Path) -> dict:
    """Comments and trailing commas out; good enough for our own file (no // inside strings but URLs)."""
    text = re.sub(r"(?m)^\s*//.*$", "", path.read_text())
    text = re.sub(r",(\s*[}\]])", r"\1", text)
    return json.loads(text)


@pytest.fixture(scope="module")
def config() -> dict:
    return load_jsonc(ROOT / "wrangler.jsonc")


def run_wrangler(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(cwd), "WRANGLER_SEND_METRICS": "false", "CI": "true"}
    return subprocess.run([str(WRANGLER), *args], cwd=cwd, capture_output=True, text=True, timeout=180, env=env)


def test_bindings_classes_and_migrations_agree_with_the_code(config: dict) -> None:
    entry = (ROOT / config["main"]).read_text()
    container = (ROOT / "worker" / "container" / "durable_object.py").read_text()
    objects = (ROOT / "worker" / "keys" / "objects.py").read_text()
    bindings = {b["name"]: b["class_name"] for b in config["durable_objects"]["bindings"]}
    assert bindings == {"LITELLM_CONTAINER": "LiteLLMContainer", "VIRTUAL_KEYS": "VirtualKey",
                        "KEY_DIRECTORY": "KeyDirectory"}
    [image] = config["containers"]
    assert {protocol.CONTAINER_BINDING, protocol.KEYS_BINDING, protocol.DIRECTORY_BINDING} == set(bindings)
    assert "class LiteLLMContainer(DurableObject)" in container
    assert "class VirtualKey(DurableObject)" in objects and "class KeyDirectory(DurableObject)" in objects
    for class_name in bindings.values():  # every bound class is exported by the main module
        assert f'"{class_name}"' in entry.split("__all__", 1)[1].split("\n", 1)[0]
    assert image["class_name"] == "LiteLLMContainer"
    sqlite_classes = [name for migration in config["migrations"] for name in migration["new_sqlite_classes"]]
    assert sorted(sqlite_classes) == sorted(bindings.values())  # every class SQLite-backed, each declared once
    assert "python_workers" in config["compatibility_flags"]
    assert image["instance_type"] not in ("lite", "dev")  # 256 MiB cannot hold LiteLLM's ~330 MiB
    assert int(config["vars"]["CONTAINER_INSTANCES"]) <= image["max_instances"]
    assert config["observability"]["enabled"] is True


def test_vars_hold_no_secrets(config: dict) -> None:
    for name in config["vars"]:
        assert not re.search(r"KEY|TOKEN|SECRET|PASSWORD", name), name


def test_wrangler_types_accepts_the_config(tmp_path: Path) -> None:
    result = run_wrangler(["types", str(tmp_path / "env.d.ts"), "--config", str(ROOT / "wrangler.jsonc")], ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    generated = (tmp_path / "env.d.ts").read_text()
    assert "LITELLM_CONTAINER: DurableObjectNamespace" in generated


def test_wrangler_deploy_dry_run_accepts_the_config_without_containers(config: dict, tmp_path: Path) -> None:
    """With its containers entry wrangler wants a Docker daemon, so the dry run leaves it out."""
    dry = {key: value for key, value in config.items() if key not in ("containers", "$schema")}
    dry["main"] = str(ROOT / config["main"])
    dry["assets"] = {**config["assets"], "directory": str(ROOT / config["assets"]["directory"])}
    (tmp_path / "wrangler.json").write_text(json.dumps(dry))
    result = run_wrangler(["deploy", "--dry-run", "--outdir", str(tmp_path / "out")], tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "env.LITELLM_CONTAINER (LiteLLMContainer)" in output and "Durable Object" in output
    for module in ("container/durable_object.py", "rules/auth.py", "rules/routing.py", "keys/objects.py",
                   "metering/charge.py", "edge/model_choice.py"):  # entry.py is the main module; wings are bundled
        assert module in output
    assert "__pycache__" not in output and "test_" not in output


def test_dockerfile_copies_existing_files_and_runs_the_shared_start_command() -> None:
    dockerfile = (ROOT / "container" / "Dockerfile").read_text()
    sources = [src for line in dockerfile.splitlines() if line.startswith("COPY ")
               for src in line.split()[1:-1]]
    assert sources, "no COPY lines"
    for source in sources:
        assert (ROOT / source).exists(), f"COPY source {source} missing"
    assert 'CMD ["/app/container/start.sh"]' in dockerfile
    assert "--require-hashes" in dockerfile and "USER " in dockerfile and "EXPOSE 4000" in dockerfile
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)  # the minor version tests run LiteLLM with
    cli = (ROOT / "local" / "cli.mjs").read_text()
    assert '"container", "start.sh"' in cli  # the local runtime runs the very same file


def test_container_requirements_match_the_lock() -> None:
    uv = ROOT / ".uv" / "bin" / "uv"
    if not uv.exists():
        uv = Path(shutil.which("uv") or "")
    assert uv.exists(), "uv is installed by make install"
    exported = subprocess.run([str(uv), "export", "--only-group", "container", "--frozen", "--quiet"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout

    def pins(text: str) -> list[str]:
        return [line for line in text.splitlines() if line and not line.lstrip().startswith("#")]

    committed = (ROOT / "container" / "requirements.txt").read_text()
    assert pins(committed) == pins(exported), "run `make container-requirements`"
    assert "litellm==1.108.7" in committed and "--hash=sha256:" in committed
    assert not re.search(r"litellm==1\.(82\.[78]|107\.)", committed)


def test_start_command_defaults() -> None:
    start = (ROOT / "container" / "start.sh").read_text()
    for default in ("LITELLM_LOCAL_MODEL_COST_MAP", "NO_DOCS", "DISABLE_ADMIN_UI", "JSON_LOGS", 'PORT:=4000'):
        assert default in start
    assert "--detailed_debug" not in start  # it would log prompts and headers


def test_make_deploy_refuses_without_cloudflare_credentials() -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("CLOUDFLARE_")}
    result = subprocess.run(["make", "-s", "deploy"], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode != 0
    assert "CLOUDFLARE_API_TOKEN" in result.stderr and "CLOUDFLARE_ACCOUNT_ID" in result.stderr
    assert "wrangler deploy" not in result.stdout  # it stopped before calling wrangler
