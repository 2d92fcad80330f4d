"""``txflow replay``: the classic exercise's CSV through a ledger engine."""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TextIO

from services.cli import csvio, tally
from services.cli.csvio import BadRow, Row
from services.cli.poster import Poster, api_client, fetch_account
from services.cli.redis_process import free_port
from services.cli.stack import LocalStack
from services.worker.ledger import MemoryLedger
from shared.settings import Settings
from shared.store import connect_sync

DEFAULT_ENCODING = "utf-8-sig"  # UTF-8, with or without a byte order mark


@dataclass
class Summary:
    """What became of a file's rows, printed on stderr when the replay ends."""

    read: int = 0
    skipped: int = 0
    outcomes: Counter[str] | None = None  # None: not counted (no access to Redis)
    accepted: int = 0

    def line(self) -> str:
        parts = [f"{self.read} rows read"]
        if self.outcomes is None:
            parts.append(f"{self.accepted} accepted (applied/rejected not counted: no REDIS_URL)")
        else:
            always = ("applied", "rejected")  # the others (duplicate, dead) when there are any
            parts += [f"{self.outcomes[o]} {o}" for o in always]
            parts += [f"{n} {o}" for o, n in self.outcomes.items() if o not in always and n]
        parts.append(f"{self.skipped} skipped")
        return "txflow replay: " + ", ".join(parts)


@contextmanager
def open_source(path: str, encoding: str) -> Iterator[tuple[Iterator[str], str]]:
    """Yield the lines of ``path`` (``-`` for stdin) and its source tag.

    Lines stream: the file is never held in memory. A file that does not
    decode is refused before a row is read. A progress bar appears on stderr
    when it is a terminal and the size is known.
    """
    if path == "-":
        yield csvio.decode_lines(sys.stdin.buffer, encoding), csvio.source_tag(None)
        return
    file = Path(path)
    with file.open("rb") as raw:
        tag = csvio.source_tag(raw, encoding)
    with file.open(newline="", encoding=encoding) as text:
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


def rows(path: str, encoding: str, summary: Summary) -> Iterator[Row]:
    """The well-formed rows of ``path``; each malformed one is reported on stderr and counted."""
    with open_source(path, encoding) as (lines, tag):
        for row in csvio.read_rows(lines, tag):
            summary.read += 1
            if isinstance(row, BadRow):
                print(f"txflow replay: line {row.line}: skipped: {row.reason}", file=sys.stderr)
                summary.skipped += 1
            else:
                yield row


def replay_memory(path: str, out: IO[str], encoding: str = DEFAULT_ENCODING) -> Summary:
    """Replay ``path`` on the in-process ledger."""
    ledger = MemoryLedger()
    counted: Counter[str] = Counter()
    summary = Summary(outcomes=counted)
    for row in rows(path, encoding, summary):
        summary.accepted += 1
        counted[ledger.process(row.tx).outcome] += 1
    csvio.write_accounts(out, ledger)
    return summary


def replay_services(
    path: str,
    out: IO[str],
    settings: Settings,
    api: str | None,
    workers: int,
    *,
    token: str | None,
    redis_known: bool,
    encoding: str = DEFAULT_ENCODING,
) -> Summary:
    """Replay ``path`` through ingest and workers; start a stack when no ``api`` is given.

    Without ``api`` the stack uses ``settings.redis_url`` when ``redis_known``
    (``REDIS_URL`` set), else its own Redis in a temporary directory (a fresh
    ledger every run). Outcomes are counted when the Redis is known.
    """
    if api is not None:
        known = settings if redis_known else None
        return _replay_via(api, token, path, out, encoding, known)
    with tempfile.TemporaryDirectory(prefix="txflow-replay-") as tmp:
        url = settings.redis_url if redis_known else None
        stack = LocalStack(
            workers,
            port=free_port(),
            redis_url=url,
            data_dir=Path(tmp),
            cluster=settings.redis_cluster,
        )
        with stack:
            assert stack.redis_url is not None
            own = settings.model_copy(update={"redis_url": stack.redis_url})
            return _replay_via(stack.api, token, path, out, encoding, own)


def _replay_via(
    api: str, token: str | None, path: str, out: IO[str], encoding: str, redis: Settings | None
) -> Summary:
    clients: dict[str, None] = {}  # ordered set: memory grows with clients, not rows
    summary = Summary()
    with api_client(api, token) as http:
        poster = Poster(http)
        for row in rows(path, encoding, summary):
            clients[row.tx.account_id] = None
            poster.add(row.tx)
        poster.flush()
        poster.wait_applied()
        summary.accepted = poster.accepted
        if redis is not None:
            client = connect_sync(redis, decode_responses=True)
            try:
                summary.outcomes = tally.outcomes(client, poster.spans)
            finally:
                client.close()
        csvio.write_accounts(out, ((c, fetch_account(http, c)) for c in clients))
    return summary
