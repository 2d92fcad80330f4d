"""When the console reads the status again (``services.console.web.Console``), no Redis.

The board is a stand-in whose readings the test releases one by one: what is
checked is only the console's rule for keeping a reading.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from typing import Any

from services.console.web import Console
from tests import config


class SlowBoard:
    """Numbered readings; each waits until the test lets it finish."""

    def __init__(self) -> None:
        self.numbers = itertools.count(1)
        self.started = threading.Event()
        self.finish = threading.Event()

    def read(self, client: Any) -> dict[str, int]:
        number = next(self.numbers)
        self.started.set()
        assert self.finish.wait(10), "the test never let the reading finish"
        return {"reading": number}


async def test_a_reading_begun_before_an_action_is_not_kept_for_the_next_request() -> None:
    console = Console(config.settings(console_sample_ms=60_000))  # kept a minute, unless
    board = console.board = SlowBoard()  # type: ignore[assignment]
    first = asyncio.create_task(console.status())
    await asyncio.to_thread(board.started.wait, 10)
    await console.act(lambda client: None)  # while the reading is under way
    board.finish.set()
    assert await first == {"reading": 1}  # whoever asked before the action gets it
    assert await console.status() == {"reading": 2}  # the next one reads afresh
    assert await console.status() == {"reading": 2}  # and that one is kept
