"""Durations as operators write them in vars ("500ms", "20s", "10m", "1h"), held as milliseconds."""

from __future__ import annotations

import math
import re
import time

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration_ms(text: str) -> int:
    """Parses "250ms", "20s", "10m", "1h" or a bare number of seconds; raises ValueError otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 500ms, 20s, 10m, 1h)")
    ms = float(match.group(1)) * _UNITS_MS[match.group(2) or "s"]
    if math.isinf(ms):  # past ~1e308: round(inf) would raise OverflowError
        raise ValueError(f"not a duration: {text[:40]!r} (too large)")
    return round(ms)


def format_duration_ms(ms: int) -> str:
    """The shortest exact spelling, so /health and logs echo durations the way vars spell them."""
    for unit in ("h", "m", "s"):
        size = _UNITS_MS[unit]
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def now_ms() -> int:
    """Wall-clock epoch milliseconds: what lifecycle times, alarms and key windows are measured in."""
    return int(time.time() * 1000)
