"""``txflow replay``: the classic exercise's CSV through a ledger engine."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TextIO

from services.cli import csvio
from services.cli.csvio import BadRow
from services.worker.ledger import MemoryLedger


@contextmanager
def open_source(path: str) -> Iterator[tuple[Iterator[str], str]]:
    """Yield the lines of ``path`` (``-`` for stdin) and its source tag.

    Lines stream: the file is never held in memory. A progress bar appears on
    stderr when it is a terminal and the size is known.
    """
    if path == "-":
        yield iter(sys.stdin), csvio.source_tag(None)
        return
    file = Path(path)
    with file.open("rb") as raw:
        tag = csvio.source_tag(raw)
    with file.open(newline="", encoding="utf-8-sig") as text:
        if sys.stderr.isatty():
            yield _with_progress(text, file.stat().st_size), tag
        else:
            yield iter(text), tag


def _with_progress(text: TextIO, size: int) -> Iterator[str]:
    from rich.progress import Progress  # imported only for terminals

    with Progress(transient=True) as progress:
        task = progress.add_task("replaying", total=size)
        for n, line in enumerate(text):
            if n % 4096 == 0:
                progress.update(task, completed=text.buffer.tell())
            yield line


def report(bad: BadRow) -> None:
    print(f"txflow replay: line {bad.line}: skipped: {bad.reason}", file=sys.stderr)


def replay_memory(path: str, out: IO[str]) -> int:
    """Replay ``path`` on the in-process ledger; return the number of skipped rows."""
    ledger = MemoryLedger()
    skipped = 0
    with open_source(path) as (lines, tag):
        for row in csvio.read_rows(lines, tag):
            if isinstance(row, BadRow):
                report(row)
                skipped += 1
            else:
                ledger.process(row.tx)
    csvio.write_accounts(out, ledger)
    return skipped
