"""README and docs/ agree with the code, so the next drift fails CI instead of misleading a reader.

- README's "Errors the gateway answers itself" lists exactly the (status, code) pairs `worker/rules/errors.py` can
  answer, derived by calling every factory that returns a GatewayError (a new one needs no edit here).
- Every env var the worker reads is named in README; every var in README's Configuration table and in
  wrangler.jsonc `vars` is read by the worker.
- docs/security.md states json_scan's parser bounds as the module sets them.
Each check is a function returning its problems, and is also run on broken copies of README below.
A statement that moves to another document is read there with `doc_section(path, title)`.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from pathlib import Path

import settings
from metering.recent import MAX_RECENT
from rules import errors, json_scan
from tests.project.test_wrangler_and_image import load_jsonc

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECURITY = ROOT / "docs" / "security.md"
VARIABLE = "passed through"  # a status the factory takes from its caller (LiteLLM's), not one of its own
DUMMY_BY_TYPE: dict[object, tuple[object, object]] = {int: (418, 599), str: ("x", "y"), float: (1.5, 2.5),
                                                     int | None: (418, 599)}


def _dummies(fn: Callable[..., object], pick: int) -> dict[str, object]:
    """Arguments for `fn` from its signature: defaults where there are any, else a dummy of the annotated type."""
    hints = typing.get_type_hints(fn)
    args: dict[str, object] = {}
    for name, param in inspect.signature(fn).parameters.items():
        if param.default is not inspect.Parameter.empty:
            continue
        kind = hints.get(name)
        assert kind in DUMMY_BY_TYPE, f"errors.{fn.__name__}({name}: {kind}): teach DUMMY_BY_TYPE this type"
        args[name] = DUMMY_BY_TYPE[kind][pick]
    return args


def error_codes() -> set[tuple[int | str, str]]:
    """(status, code) of every GatewayError factory; status VARIABLE when it follows an argument."""
    found: set[tuple[int | str, str]] = set()
    for name, fn in inspect.getmembers(errors, inspect.isfunction):
        if name.startswith("_") or fn.__module__ != errors.__name__:
            continue
        if typing.get_type_hints(fn).get("return") is not errors.GatewayError:
            continue
        first, second = fn(**_dummies(fn, 0)), fn(**_dummies(fn, 1))
        assert first.code == second.code, f"errors.{name}: the code must not depend on arguments"
        found.add((first.status if first.status == second.status else VARIABLE, first.code))
    return found


def section(text: str, title: str, document: str = "README") -> str:
    """The body of `text`'s `## title` section, up to the next `## ` heading (its `###` subsections included)."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f'{document} has no "## {title}" section'
    return match.group(1)


def doc_section(path: Path, title: str) -> str:
    """A section of any document of the repo (README.md, docs/*.md), named in the failure by its path."""
    return section(path.read_text(), title, str(path.relative_to(ROOT)))


def table_rows(text: str) -> list[dict[str, str]]:
    """The first Markdown table in `text`, as dicts keyed by lower-cased header; backticks dropped."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("|")]
    assert len(lines) >= 2, "no table found"
    cells = [[c.strip().strip("`") for c in ln.strip("|").split("|")] for ln in lines]
    header = [h.lower() for h in cells[0]]
    return [dict(zip(header, row, strict=False)) for row in cells[2:]]


def documented_errors(readme: str) -> set[tuple[int | str, str]]:
    rows = table_rows(section(readme, "Errors the gateway answers itself"))
    return {(int(r["status"]) if r["status"].isdigit() else VARIABLE, r["code"]) for r in rows}


def error_table_problems(readme: str) -> list[str]:
    documented, derived = documented_errors(readme), error_codes()
    lacking, extra = sorted(derived - documented, key=str), sorted(documented - derived, key=str)
    return [f"README lacks {pair} (worker/rules/errors.py answers it)" for pair in lacking] + [
        f"README lists {pair}, which worker/rules/errors.py never answers" for pair in extra]


def vars_read() -> set[str]:
    """Env names the worker reads: whatever Settings asks for, direct lookup("NAME") calls, CONTAINER_ENV_NAMES."""
    asked: list[str] = []

    def recorder(name: str) -> str | None:
        asked.append(name)
        return None

    settings.Settings.from_lookup(recorder)
    settings.container_env(recorder, "sk-dummy")
    for path in (ROOT / "worker").rglob("*.py"):
        asked += re.findall(r"""\blookup\(\s*["']([A-Z][A-Z0-9_]*)["']""", path.read_text())
    return set(asked) | set(settings.CONTAINER_ENV_NAMES)


def env_var_problems(readme: str, wrangler_vars: set[str]) -> list[str]:
    read = vars_read()
    named = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", readme))
    configured = {row["var"] for row in table_rows(section(readme, "Configuration"))}
    return ([f"{name} is read by the worker but README never names it" for name in sorted(read - named)]
            + [f"README's Configuration table lists {name}, which the worker never reads"
               for name in sorted(configured - read)]
            + [f"wrangler.jsonc vars has {name}, which the worker never reads" for name in sorted(wrangler_vars - read)]
            + [f"wrangler.jsonc vars has {name}, missing from README's Configuration table"
               for name in sorted(wrangler_vars - configured)])


def wrangler_vars() -> set[str]:
    return set(load_jsonc(ROOT / "wrangler.jsonc")["vars"])


def test_readme_error_table_matches_errors_py() -> None:
    assert error_table_problems(README.read_text()) == []


def test_env_vars_documented_and_read() -> None:
    assert env_var_problems(README.read_text(), wrangler_vars()) == []


def test_the_factories_are_found() -> None:
    """The derivation itself: the codes every gateway has had since its first release are among them."""
    codes = {code for _, code in error_codes()}
    assert {"invalid_api_key", "not_found", "container_starting", "upstream_unreachable"} <= codes
    assert {"LITELLM_MASTER_KEY", "READY_TIMEOUT", "OPENAI_API_KEY"} <= vars_read()


def test_checks_catch_a_broken_readme() -> None:
    readme = README.read_text()
    for status, code in error_codes():  # every row is needed: drop each in turn
        without_row = "\n".join(ln for ln in readme.splitlines() if not (ln.startswith("|") and f"| `{code}` |" in ln))
        problems = error_table_problems(without_row)
        assert f"README lacks {(status, code)!r} (worker/rules/errors.py answers it)" in problems
    extra_row = readme.replace("| 401 | `invalid_api_key` |", "| 418 | `teapot` | never |\n| 401 | `invalid_api_key` |")
    assert "README lists (418, 'teapot'), which worker/rules/errors.py never answers" in error_table_problems(extra_row)

    unnamed = readme.replace("`READY_TIMEOUT`", "READY-TIMEOUT")
    assert "READY_TIMEOUT is read by the worker but README never names it" in env_var_problems(unnamed, set())
    unread = readme.replace("| `LOG_LEVEL` |", "| `LOG_COLOUR` | `off` | never read |\n| `LOG_LEVEL` |")
    problems = env_var_problems(unread, {"LOG_COLOUR"})
    assert "README's Configuration table lists LOG_COLOUR, which the worker never reads" in problems
    assert "wrangler.jsonc vars has LOG_COLOUR, which the worker never reads" in problems


def test_defaults_agree_in_code_wrangler_and_readme() -> None:
    """A default lives in Settings; wrangler.jsonc `vars` and README's table repeat it, so all three must agree."""
    values = load_jsonc(ROOT / "wrangler.jsonc")["vars"]
    documented = {row["var"]: row["default"].strip("`") for row in table_rows(section(README.read_text(),
                                                                                        "Configuration"))}
    for name, value in values.items():
        assert documented[name] == (value or "empty"), f"{name}: README says {documented[name]}, wrangler {value!r}"
    from_wrangler = settings.Settings.from_lookup(lambda name: values.get(name) or None)
    assert from_wrangler == settings.Settings.from_lookup(lambda name: None), "wrangler.jsonc vars differ from Settings"


def test_the_parser_bounds_the_security_model_states_are_json_scans() -> None:
    """docs/security.md states json_scan's bounds in words: the module is their one home, the document follows."""
    parsing = doc_section(SECURITY, "Parsing that cannot crash the isolate")
    for stated in (f"**{json_scan.MAX_DEPTH} levels of nesting**", f"**{json_scan.MAX_ITEMS:,} objects, arrays and",
                   f"{json_scan.MAX_SCALAR_DIGITS} digits per part",
                   f"at most {json_scan.MAX_MEMBER_BYTES // 1024} KiB"):
        assert stated in parsing, f"docs/security.md (Parsing) lacks {stated!r} (worker/rules/json_scan.py)"


def test_the_recent_requests_bound_readme_states_is_the_rings() -> None:
    """README's key API table states how many recent requests are kept: metering.recent.MAX_RECENT is its home."""
    keys = section(README.read_text(), "Keys, limits and usage")
    assert f"the last {MAX_RECENT} per key" in keys, f"README lacks the ring's bound ({MAX_RECENT})"
