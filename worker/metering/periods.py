"""LiteLLM's duration grammar for `duration` and `budget_duration`: "30s", "30m", "30h", "30d", "2w".

Budget periods here are fixed-length windows anchored at the moment the budget period was set (key
creation, or an update that changes `budget_duration`): simple, exact, and the same for every key.
LiteLLM snaps resets to calendar boundaries instead; `mo` (calendar months) is not accepted.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# The longest `duration` or `budget_duration` accepted: far past any key's life, and small enough that every
# time derived from it stays a date Python can show and a number JavaScript holds exactly.
MAX_PERIOD_MS = 36_500 * 86_400_000  # 100 years
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST_SHOWN_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last instant a datetime holds
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_ALIASES = {"hourly": "1h", "daily": "24h", "weekly": "7d", "monthly": "30d"}  # LiteLLM's words
_DURATION = re.compile(r"^(\d{1,6})([smhdw])$")


def parse_period_ms(text: str) -> int:
    """Milliseconds in "30d" etc.; raises ValueError on anything else (zero included)."""
    normalized = _ALIASES.get(text.strip().lower(), text.strip())
    match = _DURATION.match(normalized)
    if match is None or int(match.group(1)) == 0:
        raise ValueError("use a whole number and a unit: 30s, 30m, 30h, 30d or 2w")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def next_reset_ms(anchor_ms: int, period_ms: int, now_ms: int) -> int:
    """End of the period containing now, for periods of `period_ms` starting at `anchor_ms`."""
    elapsed = max(0, now_ms - anchor_ms)
    return anchor_ms + (elapsed // period_ms + 1) * period_ms


def iso_ms(ms: int | None) -> str | None:
    """ISO 8601 UTC with millisecond precision, as the admin API answers times.

    Keys stored before periods were bounded can hold times past year 9999: they show as its last instant,
    so every answer naming such a key still renders and /key/update can repair it."""
    if ms is None:
        return None
    shown = _EPOCH + timedelta(milliseconds=min(ms, _LAST_SHOWN_MS))
    return shown.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_day_seen: tuple[int, str] = (-1, "")  # the last day asked, by its number since the epoch: every booking asks


def utc_day(ms: int) -> str:
    global _day_seen
    number = ms // _UNIT_MS["d"]
    if number != _day_seen[0]:
        _day_seen = (number, datetime.fromtimestamp(number * _UNIT_MS["d"] // 1000, UTC).strftime("%Y-%m-%d"))
    return _day_seen[1]
