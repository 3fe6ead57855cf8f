"""The properties can fail: each runs on a copy of json_scan with one bug put in, and must catch it."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import test_json_scan as props
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

from rules import json_scan

SOURCE = Path(json_scan.__file__).read_text()


def mutant(old: str, new: str) -> types.ModuleType:
    """json_scan with the first `old` replaced by `new` (a site gone from the source: update MUTANTS)."""
    assert old in SOURCE, f"mutation site gone: {old!r}"
    module = types.ModuleType("json_scan_mutant")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    try:
        exec(compile(SOURCE.replace(old, new, 1), module.__name__, "exec"), module.__dict__)
    finally:
        del sys.modules[module.__name__]
    return module


def caught(check, *strategies: st.SearchStrategy, examples: int = 300) -> bool:
    """Whether Hypothesis falsifies `check` within a few hundred examples (no shrinking: only the verdict)."""
    @settings(props.SETTINGS, max_examples=examples, derandomize=True, phases=[Phase.generate],
              report_multiple_bugs=False)
    @given(st.tuples(*strategies))
    def run(args: tuple) -> None:
        check(*args)

    try:
        run()
    except HypothesisException:
        raise  # a broken test, not a caught mutant
    except (Exception, pytest.fail.Exception):  # pytest.raises fails with a BaseException
        return True
    return False


def chunking(bodies: st.SearchStrategy[bytes]) -> tuple:
    return bodies, props.cuts, props.wanted_names


AGREEMENT = (st.dictionaries(props.keys, props.values(props.wide_ints), max_size=6), props.dumps_options,
             st.sets(st.integers(0, 6)))
DEPTH = (st.builds(props.nest, props.values(), st.lists(st.booleans(), min_size=29, max_size=33)),
         props.dumps_options)

MUTANTS = {  # id: (old, new, the property that must catch it, the bodies it runs on)
    "depth-limit-off-by-one": ("if len(self._stack) >= MAX_DEPTH:", "if len(self._stack) > MAX_DEPTH:",
                               props.check_depth, DEPTH),
    "escape-cut-not-carried": ("len(buf) - stop < 6 and not final", "len(buf) - stop < 5 and not final",
                               props.check_chunking, chunking(props.valid_bodies)),
    "capture-lost-at-chunk-end": ("self._capture(buf[max(0, self._value_start - self._base):pos])", "pass",
                                  props.check_chunking, chunking(props.valid_bodies)),
    "short-carry": ("_MAX_CARRY = 512", "_MAX_CARRY = 3", props.check_chunking, chunking(props.valid_bodies)),
    "span-not-absolute": ("(start, self._base + end)", "(start, end + 1)", props.check_agreement, AGREEMENT),
    "fast-path-reads-nan": ("raise ValueError(name)  # NaN", "return float(name)  # NaN",
                            props.check_chunking, chunking(props.hostile_bodies)),
    "surrogates-not-checked": ("    if not _encodable(value):\n        raise JsonRefused(\"a string holds an",
                               "    if False:\n        raise JsonRefused(\"a string holds an",
                               props.check_chunking, chunking(props.surrogate_bodies)),
    "duplicates-let-through": ("raise JsonRefused(f\"the member '{name[:100]}' appears twice\")", "pass",
                               props.check_chunking, chunking(props.duplicate_bodies)),  # the Scanner's: first
    "loads-without-depth-check": ("        _check_depth(data)\n", "        pass\n", props.check_loads, DEPTH),
}


@pytest.mark.parametrize("name", MUTANTS)
def test_a_property_catches_the_mutant(name: str) -> None:
    old, new, check, strategies = MUTANTS[name]
    broken = mutant(old, new)
    assert caught(lambda *args: check(broken, *args), *strategies), f"no property caught {name}"


def test_a_shallower_max_depth_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_scan, "MAX_DEPTH", 31)
    assert caught(lambda *args: props.check_depth(json_scan, *args), *DEPTH)


def test_an_altered_chunker_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks that lose a byte at each cut: the chunking property must notice (it compares, not just runs)."""
    split = props.split
    monkeypatch.setattr(props, "split", lambda raw, at: [chunk[:-1] or chunk for chunk in split(raw, at)])
    assert caught(lambda *args: props.check_chunking(json_scan, *args), *chunking(props.valid_bodies))


def test_the_unbroken_copy_passes() -> None:
    same = mutant("MAX_DEPTH = 32", "MAX_DEPTH = 32")
    assert not caught(lambda *args: props.check_chunking(same, *args), *chunking(props.any_bodies), examples=60)
