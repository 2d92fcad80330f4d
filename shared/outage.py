"""Logging a run of failures once, not once per failed request or per tick.

An outage starts with the first failure: it is logged at once (a warning, one
line, no traceback). Further failures are counted; one whose text was not seen
yet in this outage is logged too (a stall that turns into a refused
connection says so), up to ``MAX_DISTINCT`` texts. The outage ends when every
source that failed has succeeded again, logged with the count and duration:
``… recovered after 1,234 failures over 31.2 s``.

Sources let several loops share one outage: a worker's tick and each of its
shard runners report their own failures and successes, and the outage is over
when all of them are. A source that is not failing costs one truth test to
report success, so success can be reported on every hot-path iteration.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable

from shared.errors import TxflowError

MAX_DISTINCT = 5
"""Distinct error texts logged per outage; beyond them failures are only counted."""

QUIET_S = 60.0
"""A failure after this long without one starts a new outage: a source whose
success never came (no request after the last failure) cannot silence the
next outage for ever."""


def describe(error: BaseException | str) -> str:
    """One line for ``error``: its message, after its type unless it is one of ours."""
    if isinstance(error, str):
        return error
    text = " ".join(str(error).split())
    if isinstance(error, TxflowError) and text:
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Outage:
    """The failures of ``subject`` (for instance ``"ingest: Redis"``) since it last worked."""

    def __init__(
        self,
        log: logging.Logger,
        subject: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._subject = subject
        self._clock = clock
        self._failing: set[Hashable] = set()
        self._seen: set[str] = set()
        self._failures = 0
        self._since = self._last = 0.0

    @property
    def failing(self) -> bool:
        return bool(self._failing)

    @property
    def failures(self) -> int:
        """Failures counted in the current outage (0 outside one)."""
        return self._failures

    def failed(
        self, error: BaseException | str, source: Hashable = None, *, traceback: bool = False
    ) -> None:
        """Count a failure of ``source``; log it if it starts the outage or is new in it
        (with its traceback when ``traceback``: an error nobody expected)."""
        now = self._clock()
        if self._failing and now - self._last > QUIET_S:
            self._end(now, "no failure for a while")
        if not self._failing:
            self._since = now
        self._failing.add(source)
        self._failures += 1
        self._last = now
        text = describe(error)
        if text not in self._seen and len(self._seen) < MAX_DISTINCT:
            self._seen.add(text)
            more = "" if len(self._seen) > 1 else " (repeats are counted until it recovers)"
            trace = error if traceback and isinstance(error, BaseException) else None
            self._log.warning("%s: %s%s", self._subject, text, more, exc_info=trace)

    def ok(self, source: Hashable = None) -> None:
        """``source`` worked (or stopped trying); the outage ends once no source is failing."""
        if not self._failing or source not in self._failing:
            return
        self._failing.discard(source)
        if not self._failing:
            self._end(self._clock(), "recovered")

    def _end(self, now: float, how: str) -> None:
        self._log.info(
            "%s: %s after %d failure(s) over %.1f s",
            self._subject,
            how,
            self._failures,
            now - self._since,
        )
        self._failing.clear()
        self._seen.clear()
        self._failures = 0
