"""Capped exponential backoff with jitter, as a pure function."""

from __future__ import annotations

import random
from collections.abc import Callable


def compute_backoff(
    attempt: int,
    *,
    base: float = 0.05,
    factor: float = 2.0,
    max_backoff: float = 5.0,
    jitter: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based).

    "Full jitter": a uniform draw below the capped exponential, so that many
    workers that lost Redis at once do not reconnect in step.
    """
    ceiling = min(max_backoff, base * factor ** min(attempt, 64))
    return ceiling * jitter()
