"""Body limits: Content-Length judged exactly, never raising; the streaming budget agrees with it."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from prop_strategies import quick

from rules.body_limit import ByteBudget, Declared, judge_declared_length

limits = st.integers(0, 2**40)
content_lengths = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.integers(0, 2**64).map(str),
    st.builds(lambda pad, n: pad + str(n) + pad, st.sampled_from(("", " ", "\t", "00")), st.integers(0, 2**41)),
    st.sampled_from(("\u00b2", "\u00b9", "\u0661\u0662", "\uff11", "+1", "-1", "1e3", "0x10", "1_000", "1.0")),
    st.integers(4000, 6000).map(lambda n: "9" * n),  # past CPython's int() digit limit
    st.integers(4000, 6000).map(lambda n: "0" * n + "7"),
)


def _expected(content_length: str | None, limit: int) -> Declared:
    """HTTP's Content-Length is 1*DIGIT (ASCII digits only), whatever surrounds it."""
    if content_length is None:
        return Declared.UNKNOWN
    text = content_length.strip()
    if not re.fullmatch(r"[0-9]+", text):
        return Declared.INVALID
    digits, most = text.lstrip("0") or "0", str(limit)
    return Declared.WITHIN if (len(digits), digits) <= (len(most), most) else Declared.TOO_LARGE  # no int()


@quick(200)
@given(content_lengths, limits)
def test_declared_length_is_judged_exactly_and_never_raises(content_length: str | None, limit: int) -> None:
    assert judge_declared_length(content_length, limit) is _expected(content_length, limit)


@quick(150)
@given(content_lengths, limits, limits)
def test_a_larger_limit_never_judges_stricter(content_length: str | None, a: int, b: int) -> None:
    low, high = sorted((a, b))
    at_low, at_high = judge_declared_length(content_length, low), judge_declared_length(content_length, high)
    if at_low is Declared.WITHIN:
        assert at_high is Declared.WITHIN
    if at_high is Declared.TOO_LARGE:
        assert at_low is Declared.TOO_LARGE
    if at_low in (Declared.INVALID, Declared.UNKNOWN):
        assert at_high is at_low


@quick(150)
@given(limits, st.lists(st.integers(0, 2**20), max_size=40))
def test_byte_budget_counts_and_stays_exceeded(limit: int, chunks: list[int]) -> None:
    budget, total, was_exceeded = ByteBudget(limit), 0, False
    for size in chunks:
        within = budget.consume(size)
        total += size
        assert budget.seen == total
        assert budget.exceeded == (total > limit or was_exceeded)
        assert within is not budget.exceeded
        if was_exceeded:
            assert budget.exceeded  # once over, always over
        was_exceeded = budget.exceeded


@quick(150)
@given(st.integers(0, 2**22), st.integers(0, 2**22), st.lists(st.integers(0, 2**16), max_size=20))
def test_streaming_and_declared_judgements_agree(total: int, limit: int, cuts: list[int]) -> None:
    """However a body of `total` bytes is chunked, the budget ends exceeded iff declaring it is too large."""
    budget, left = ByteBudget(limit), total
    for cut in cuts:
        budget.consume(min(cut, left))
        left -= min(cut, left)
    budget.consume(left)
    assert budget.exceeded == (judge_declared_length(str(total), limit) is Declared.TOO_LARGE)
