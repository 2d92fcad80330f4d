"""The console's recent history: throughput and latency, one point per sample.

A sample is the deployment's counters at one instant: the entries appended to
every shard stream (XINFO STREAM's ``entries-added``, whichever ingest took
them) and each shard's committed count, plus the latencies of the outcomes
committed since the sample before. Rates are the counters' differences over
the time between two samples. Pure: no I/O, no clock of its own.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic reads these (the console's OpenAPI)


@with_config(ConfigDict(extra="forbid"))
class Point(TypedDict):
    at: int  # ms since the epoch
    accepted_per_s: float
    processed_per_s: float  # committed by workers: applied, rejected or duplicate
    p50_ms: float | None  # accepted → committed
    p99_ms: float | None


@with_config(ConfigDict(extra="forbid"))
class Series(TypedDict):
    """The points of ``History``, ``interval_ms`` apart (as sampled)."""

    interval_ms: int
    points: list[Point]


@dataclass(frozen=True, slots=True)
class Sample:
    at_ms: int  # wall clock: where the point goes on the chart
    monotonic_s: float  # what rates divide by
    appended: int
    committed: tuple[int, ...]  # per shard
    latencies_ms: Sequence[int] = ()  # accepted → committed, of recent outcomes


def percentiles(values: Sequence[int]) -> tuple[float | None, float | None]:
    """p50 and p99 of ``values`` (``None`` for none)."""
    if not values:
        return None, None
    if len(values) == 1:
        return float(values[0]), float(values[0])
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98]


def per_second(now: int, before: int, seconds: float) -> float:
    """A counter's rate; a counter that went back (a Redis started afresh) counts 0."""
    return round(max(0, now - before) / seconds, 1) if seconds > 0 else 0.0


class History:
    """The last ``size`` points, and each shard's latest commit rate."""

    def __init__(self, size: int) -> None:
        self.points: deque[Point] = deque(maxlen=size)
        self.commit_rates: list[float | None] = []
        self._last: Sample | None = None

    def add(self, sample: Sample) -> None:
        """Add a point from ``sample`` and the one before it (the first only sets the start)."""
        last, self._last = self._last, sample
        if last is None or len(last.committed) != len(sample.committed):
            self.commit_rates = [None] * len(sample.committed)
            return
        seconds = sample.monotonic_s - last.monotonic_s
        self.commit_rates = [
            per_second(now, before, seconds)
            for now, before in zip(sample.committed, last.committed, strict=True)
        ]
        p50, p99 = percentiles(sample.latencies_ms)
        self.points.append(
            {
                "at": sample.at_ms,
                "accepted_per_s": per_second(sample.appended, last.appended, seconds),
                "processed_per_s": per_second(sum(sample.committed), sum(last.committed), seconds),
                "p50_ms": p50,
                "p99_ms": p99,
            }
        )
