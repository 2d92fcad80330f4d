"""The console's tests: the in-process ingest fixtures of ``tests/ingest/conftest.py``, and
the list of the browser tests' screenshots at the end of the run."""

from __future__ import annotations

import pytest

from tests.console import browser
from tests.ingest.conftest import api, guarded

__all__ = ["api", "guarded"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if browser.saved:
        terminalreporter.section("console screenshots")
        for path in browser.saved:
            terminalreporter.write_line(str(path))
