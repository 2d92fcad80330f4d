"""Refusals of clients, logged once per episode with counts rather than once each.

A flood of slow or oversized requests must not become a flood of log lines: the
first refusal after a quiet spell is logged at once, saying what and in what
state; the episode ends once ``QUIET_S`` pass without another, and is logged
then with the number of each kind of refusal it had.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable

QUIET_S = 5.0
"""An episode ends after this long without a refusal."""


class Incidents:
    """Counts refusals by kind; ``describe`` tells the state when an episode starts."""

    def __init__(self, log: logging.Logger, describe: Callable[[], str]) -> None:
        self._log = log
        self._describe = describe
        self._counts: Counter[str] = Counter()
        self._started = self._last = 0.0

    def note(self, kind: str) -> None:
        """One refusal of ``kind`` (called on the event loop)."""
        loop = asyncio.get_running_loop()
        self._last = loop.time()
        if not self._counts:
            self._started = self._last
            self._log.warning(
                "client limits: first refusal: %s, %s; the next are counted until %g s pass "
                "without one",
                kind, self._describe(), QUIET_S,
            )  # fmt: skip
            loop.call_at(self._last + QUIET_S, self._end, loop)
        self._counts[kind] += 1

    def _end(self, loop: asyncio.AbstractEventLoop) -> None:
        quiet_from = self._last + QUIET_S
        if loop.time() < quiet_from:
            loop.call_at(quiet_from, self._end, loop)
            return
        counts = ", ".join(f"{n} {kind}" for kind, n in self._counts.most_common())
        self._log.warning(
            "client limits: episode over after %.1f s: %s", self._last - self._started, counts
        )
        self._counts.clear()
