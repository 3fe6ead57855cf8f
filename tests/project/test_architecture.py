"""docs/architecture.md's wing table is the import rule of worker/: every folder is a wing there, and every import
goes to the module's own wing or to one the table lets it import; no module imports itself back through others (no
cycles)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.project.test_docs_consistency import section

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "worker"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
TOP = "top-level modules"


def wing_table(document: str) -> dict[str, set[str]]:
    """{wing: the wings it may import}, from docs/architecture.md's Wings table (`| wing | what it is | imports |`)."""
    rows = re.findall(r"^\| (`[^|]+`|top-level modules) \| [^|]+ \| ([^|]+) \|$",
                      section(document, "Wings", "docs/architecture.md"), re.M)
    table: dict[str, set[str]] = {}
    for wing, imports in rows:
        table[wing.strip("`")] = set(re.findall(r"`([a-z_]+/)`", imports)) | (
            {TOP} if TOP in imports else set())
    for wing, imports in rows:
        if "all below" in imports:
            table[wing.strip("`")] = {name for name in table if name != wing.strip("`")}
    return table


def wing_of(path: Path) -> str:
    relative = path.relative_to(WORKER)
    if len(relative.parts) > 1:
        return relative.parts[0] + "/"
    return "entry.py" if relative.name == "entry.py" else TOP


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(WORKER).with_suffix("").parts).removesuffix(".__init__")


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The worker/ modules `path` imports (absolute imports: workerd puts worker/ on the path)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        found |= {name for name in names if name in known}
    return found


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in WORKER.rglob("*.py") if "__pycache__" not in path.parts}


def test_every_folder_of_worker_is_a_wing_of_the_table() -> None:
    table = wing_table(ARCHITECTURE.read_text())
    folders = {path.name + "/" for path in WORKER.iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert folders | {"entry.py", TOP} == set(table), "docs/architecture.md's wing table and worker/'s folders differ"
    assert all((WORKER / folder / "__init__.py").is_file() for folder in folders), "each wing says what it holds"


def test_imports_go_only_to_the_wings_the_table_allows() -> None:
    table, found = wing_table(ARCHITECTURE.read_text()), modules()
    breaches = []
    for name, path in found.items():
        own = wing_of(path)
        for target in imports_of(path, set(found)):
            goes_to = wing_of(found[target])
            if goes_to != own and goes_to not in table[own]:
                breaches.append(f"{name} ({own}) imports {target} ({goes_to})")
    assert breaches == []


def test_no_module_imports_itself_back() -> None:
    found = modules()
    graph = {name: imports_of(path, set(found)) - {name} for name, path in found.items()}
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            raise AssertionError("import cycle: " + " -> ".join([*trail[trail.index(name):], name]))
        if name not in done:
            for target in sorted(graph[name]):
                visit(target, [*trail, name])
            done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_the_table_catches_an_upward_import() -> None:
    """The rule can fail: `rules/` importing `keys/` is a breach, and so is a wing missing from the table."""
    document = ARCHITECTURE.read_text()
    table = wing_table(document)
    assert "keys/" not in table["rules/"] and "edge/" not in table["container/"]
    assert "edge/" not in wing_table(re.sub(r"^\| `edge/` .*$\n", "", document, flags=re.M))
