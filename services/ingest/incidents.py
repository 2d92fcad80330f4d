"""Refusals of clients, logged once per episode (``shared.outage``), not once each.

A flood of slow or oversized requests must not become a flood of log lines.
An episode of refusals is an ``Outage`` of ``ingest: client limits``: its first
refusal is logged at once, and each new kind of refusal once; it ends, logged
with the count and duration, once ``QUIET_S`` pass without a refusal (there is
no success to report: quiet is the end).
"""

from __future__ import annotations

import asyncio
import logging

from shared.outage import Outage

QUIET_S = 5.0
"""An episode ends after this long without a refusal."""


class Incidents:
    """The refusals of one server; ``note`` is called on its event loop."""

    def __init__(self, log: logging.Logger) -> None:
        self._outage = Outage(log, "ingest: client limits")
        self._last = 0.0

    def note(self, kind: str) -> None:
        """One refusal; ``kind`` says what, the same words for every refusal of its kind."""
        loop = asyncio.get_running_loop()
        self._last = loop.time()
        if not self._outage.failing:
            loop.call_at(self._last + QUIET_S, self._end, loop)
        self._outage.failed(kind)

    def _end(self, loop: asyncio.AbstractEventLoop) -> None:
        quiet_from = self._last + QUIET_S
        if loop.time() < quiet_from:
            loop.call_at(quiet_from, self._end, loop)
        else:
            self._outage.ok()
