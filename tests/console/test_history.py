"""The console's history: rates from counter differences, latency percentiles (pure)."""

from __future__ import annotations

from services.console.history import History, Sample, percentiles


def sample(at_s: float, appended: int, committed: tuple[int, ...], *lat: int) -> Sample:
    return Sample(int(at_s * 1000), at_s, appended, committed, lat)


def test_the_first_sample_only_sets_the_start() -> None:
    history = History(10)
    history.add(sample(0, 100, (10, 20)))
    assert list(history.points) == []
    assert history.commit_rates == [None, None]


def test_rates_are_counter_differences_over_the_time_between_samples() -> None:
    history = History(10)
    history.add(sample(0, 100, (10, 20)))
    history.add(sample(2, 300, (110, 40), 5, 7, 9))
    (point,) = history.points
    assert point["accepted_per_s"] == 100.0
    assert point["processed_per_s"] == 60.0
    assert history.commit_rates == [50.0, 10.0]
    assert point["p50_ms"] == 7.0
    assert point["at"] == 2000


def test_a_counter_that_went_back_counts_zero_not_a_negative_rate() -> None:
    history = History(10)
    history.add(sample(0, 500, (50,)))
    history.add(sample(1, 3, (1,)))
    assert history.points[-1]["accepted_per_s"] == 0.0
    assert history.commit_rates == [0.0]


def test_history_keeps_the_last_points_only() -> None:
    history = History(3)
    for n in range(10):
        history.add(sample(n, n * 10, (n,)))
    assert [p["at"] for p in history.points] == [7000, 8000, 9000]


def test_percentiles_of_none_one_and_many() -> None:
    assert percentiles([]) == (None, None)
    assert percentiles([42]) == (42.0, 42.0)
    p50, p99 = percentiles(list(range(1, 101)))
    assert p50 == 50.5
    assert p99 is not None and 99 <= p99 <= 100
