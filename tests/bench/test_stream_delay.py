"""bench.measure.Delays: a stream's first chunk (it rides with the answer's head) is reported apart from the rest."""

from bench.measure import Delays


def test_first_chunks_are_kept_apart_from_the_later_ones() -> None:
    delays = Delays(first=[0.009, 0.011], later=[0.002] * 98)
    summary = delays.summary()
    assert summary["chunks"] == 100
    assert summary["first_delay_p50_ms"] >= 9.0
    assert summary["later_delay_p99_ms"] == 2.0  # the first chunks' 9-11 ms never reach the later chunks' tail
    assert summary["delay_max_ms"] == 11.0 and summary["delay_p99_ms"] > 2.0
