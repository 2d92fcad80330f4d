"""``txflow replay``: the classic exercise's CSV through a ledger engine."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TextIO

import httpx

from services.cli import csvio
from services.cli.csvio import BadRow
from services.cli.poster import Poster, fetch_account
from services.cli.redis_process import free_port
from services.cli.stack import LocalStack
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


def replay_services(path: str, out: IO[str], api: str | None, workers: int) -> int:
    """Replay ``path`` through ingest and workers; start a stack when no ``api`` is given.

    Without ``api`` the stack uses ``REDIS_URL`` when set, else its own Redis
    in a temporary directory (a fresh ledger every run).
    """
    if api is not None:
        return _replay_via(api, path, out)
    with tempfile.TemporaryDirectory(prefix="txflow-replay-") as tmp:
        stack = LocalStack(workers, port=free_port(), redis_url=os.environ.get("REDIS_URL"),
                           data_dir=Path(tmp))  # fmt: skip
        with stack:
            return _replay_via(stack.api, path, out)


def _replay_via(api: str, path: str, out: IO[str]) -> int:
    clients: dict[str, None] = {}  # ordered set: memory grows with clients, not rows
    skipped = 0
    with httpx.Client(base_url=api, timeout=60) as http, open_source(path) as (lines, tag):
        poster = Poster(http)
        for row in csvio.read_rows(lines, tag):
            if isinstance(row, BadRow):
                report(row)
                skipped += 1
                continue
            clients[row.tx.account_id] = None
            poster.add(row.tx)
        poster.flush()
        poster.wait_applied()
        csvio.write_accounts(out, ((c, fetch_account(http, c)) for c in clients))
    return skipped
