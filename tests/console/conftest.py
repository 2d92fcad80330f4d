"""The console's tests: the list of the browser tests' screenshots at the end of the run.

(The in-process ingest fixtures, ``api`` and ``guarded``, are ``tests/conftest.py``'s.)
"""

from __future__ import annotations

import pytest

from tests.console import browser


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if browser.saved:
        terminalreporter.section("console screenshots")
        for path in browser.saved:
            terminalreporter.write_line(str(path))
