"""Waiting for a condition in tests: poll it with a deadline, never sleep as synchronisation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll ``condition`` until it is truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


async def eventually(
    check: Callable[[], Awaitable[T | None]],
    timeout: float = 15.0,
    what: str = "condition",
    every: float = 0.02,
) -> T:
    """Await ``check`` until it returns something other than ``None``; fail naming ``what``
    after ``timeout`` s. The async twin of ``wait_for``, for tests on the event loop."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(every)


async def holds(condition: bool) -> bool | None:
    """``True`` if ``condition``, else ``None``: a plain condition as a check of ``eventually``."""
    return True if condition else None
