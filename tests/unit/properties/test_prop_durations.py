"""Operator durations (durations.py) and key periods (keys/periods.py): total parsers, exact round trips,
and no accepted period that overflows later (a key's expiry or budget reset must always render)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st
from prop_strategies import quick

from durations import format_duration_ms, parse_duration_ms
from keys.fields import Invalid, parse_settings
from keys.record import KeyRecord
from metering.periods import MAX_PERIOD_MS, iso_ms, next_reset_ms, parse_period_ms, utc_day

UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
PERIOD_UNITS_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
NOW_MS = st.integers(1_577_836_800_000, 4_102_444_800_000)  # 2020 .. 2100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
JS_EXACT = 2**53  # beyond it JavaScript numbers (and floats) lose whole milliseconds

def _ms_of(iso: str) -> int:
    """Epoch milliseconds of an ISO 8601 UTC time, in integers (a float timestamp is not exact)."""
    return (datetime.fromisoformat(iso.replace("Z", "+00:00")) - _EPOCH) // timedelta(milliseconds=1)


texts = st.one_of(
    st.text(max_size=15),
    st.from_regex(r"\A\s?[0-9]{1,8}(\.[0-9]{1,4})?\s?(ms|s|m|h|d|w|mo)?\s?\Z"),
    st.sampled_from(("999999w", "10**30d", "1e3s", "-1s", "0", "0d", "\u0661s", "\u00b2s", "inf", "nan", "1.s",
                     "hourly", " Daily ", "WEEKLY", "monthly", "yearly", "7D", "1000000d")),
    st.integers(300, 5000).map(lambda n: "9" * n),
    st.sampled_from(("9" * 306, "9" * 306 + "h", "1" + "0" * 305 + "m", "9" * 308, "9" * 309 + "ms")),  # float edge
    st.integers(300, 5000).map(lambda n: "9" * n + "ms"),
)


@quick(200)
@given(texts)
def test_parse_duration_raises_only_value_error(text: str) -> None:
    try:
        ms = parse_duration_ms(text)
    except ValueError:
        return
    assert isinstance(ms, int) and ms >= 0


@quick(180)
@given(st.integers(0, JS_EXACT))
def test_format_then_parse_is_exact(ms: int) -> None:
    spelled = format_duration_ms(ms)
    assert parse_duration_ms(spelled) == ms
    assert format_duration_ms(parse_duration_ms(spelled)) == spelled


@quick(150)
@given(st.one_of(st.integers(0, JS_EXACT), st.builds(lambda n, unit: n * UNITS_MS[unit], st.integers(0, 10**6),
                                                     st.sampled_from(tuple(UNITS_MS)))))
def test_format_picks_the_largest_exact_unit(ms: int) -> None:
    amount, unit = re.fullmatch(r"([0-9]+)(ms|s|m|h)", format_duration_ms(ms)).groups()
    assert int(amount) * UNITS_MS[unit] == ms
    larger = [u for u in ("s", "m", "h") if UNITS_MS[u] > UNITS_MS[unit]]
    assert all(ms % UNITS_MS[u] or ms < UNITS_MS[u] for u in larger)


@quick(150)
@given(st.integers(0, 10**6), st.sampled_from(("", "ms", "s", "m", "h")), st.sampled_from(("", " ", "  ")))
def test_whole_durations_mean_amount_times_unit(amount: int, unit: str, pad: str) -> None:
    assert parse_duration_ms(f"{pad}{amount}{pad}{unit}{pad}") == amount * UNITS_MS[unit or "s"]


@quick(150)
@given(st.integers(0, 10**7), st.integers(0, 3), st.sampled_from(("", "ms", "s", "m", "h")))
def test_decimal_durations_round_to_the_nearest_millisecond(scaled: int, decimals: int, unit: str) -> None:
    spelled = str(scaled) if decimals == 0 else f"{scaled // 10**decimals}.{scaled % 10**decimals:0{decimals}d}"
    exact = Fraction(spelled) * UNITS_MS[unit or "s"]
    assert abs(parse_duration_ms(spelled + unit) - exact) <= Fraction(1, 2)


@quick(200)
@given(texts)
def test_parse_period_raises_only_value_error(text: str) -> None:
    try:
        ms = parse_period_ms(text)
    except ValueError:
        return
    assert isinstance(ms, int) and ms > 0


@quick(180)
@given(st.integers(0, 999_999), st.sampled_from(tuple(PERIOD_UNITS_MS)), st.sampled_from(("", " ")))
def test_period_is_amount_times_unit_or_refused(amount: int, unit: str, pad: str) -> None:
    expected = amount * PERIOD_UNITS_MS[unit]
    try:
        assert parse_period_ms(f"{pad}{amount}{unit}{pad}") == expected
    except ValueError:
        assert amount == 0


@quick(100)
@given(st.sampled_from(("hourly", "daily", "weekly", "monthly")), st.lists(st.booleans(), max_size=8))
def test_litellm_period_words_ignore_case(word: str, flips: list[bool]) -> None:
    spelled = "".join(c.upper() if f else c for c, f in zip(word, flips + [False] * 8, strict=False))
    assert parse_period_ms(f" {spelled} ") == parse_period_ms(word)


@quick(200)
@given(texts, texts, NOW_MS, st.integers(0, 100 * 366 * 86_400_000))
def test_an_accepted_period_keeps_every_key_time_exact(duration: str, budget_duration: str, now: int,
                                                       later: int) -> None:
    """Validation refuses what would overflow later: before the bound, `"duration": "999999w"` stored a key
    whose expiry no datetime could show (500), and no JavaScript number holds exactly."""
    settings = {}
    for name, text in (("duration", duration), ("budget_duration", budget_duration)):
        try:
            settings.update(parse_settings({name: text}))
        except Invalid as exc:
            assert exc.field == name
            continue
        assert 0 < parse_period_ms(settings[name]) <= MAX_PERIOD_MS
    blank = KeyRecord("0" * 64, "sk-...0000", created_ms=now, updated_ms=now, budget_anchor_ms=now)
    record = blank.with_settings(settings, now)
    for moment in (record.expires_ms, record.budget_reset_ms(now + later)):
        if moment is not None:
            assert moment <= JS_EXACT
            assert _ms_of(iso_ms(moment)) == moment  # shown as it is, not clamped
    info = record.info(now + later)
    assert (info["expires"] is None) == ("duration" not in settings)
    assert (info["budget_reset_at"] is None) == ("budget_duration" not in settings)


@quick(180)
@given(NOW_MS, st.integers(1, MAX_PERIOD_MS), st.integers(-(10**12), 10**13))
def test_next_reset_ends_the_period_containing_now(anchor: int, period: int, offset: int) -> None:
    now = anchor + offset
    reset = next_reset_ms(anchor, period, now)
    assert (reset - anchor) % period == 0 and reset > anchor
    assert now < reset <= max(now, anchor) + period
    assert next_reset_ms(anchor, period, reset - 1) == reset  # stable across the whole period
    iso_ms(reset)  # renders: within a datetime's range


@quick(150)
@given(st.integers(0, 253_402_300_799_999))  # up to 9999-12-31T23:59:59.999Z
def test_iso_ms_round_trips_to_the_millisecond(ms: int) -> None:
    text = iso_ms(ms)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", text)
    assert _ms_of(text) == ms
    assert utc_day(ms) == text[:10]


@given(st.lists(NOW_MS, min_size=1, max_size=20), st.integers(0, 86_399_999))
def test_the_day_of_any_sequence_of_times_is_its_own_never_the_last_one_asked(times: list[int], within: int) -> None:
    """utc_day remembers the last day it named (every booking asks): a time on another day, or on the same day's
    first and last millisecond, must still get its own."""
    for ms in times:
        for at in (ms, ms - ms % 86_400_000, ms - ms % 86_400_000 + within, ms - ms % 86_400_000 + 86_399_999):
            assert utc_day(at) == iso_ms(at)[:10]
