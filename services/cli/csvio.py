"""The classic exercise's CSV (DESIGN §8): rows in, accounts out.

Shared by every replay engine: the reader turns lines into transactions (or a
reason the line is skipped), the writer prints accounts in the one format.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from services.worker.accounts import Account
from shared.errors import InvalidInput
from shared.model import Tx, TxType, build_tx
from shared.money import format_amount

HEADER = ("type", "client", "tx", "amount")
OUTPUT_HEADER = "client,available,held,total,locked"
MONEY_TYPES = frozenset(t.value for t in TxType if t.moves_money)


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    tx: Tx


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    reason: str


def source_tag(data: IO[bytes] | None, encoding: str = "utf-8-sig") -> str:
    """A short digest naming an input, so generated ids are stable across replays.

    A file is named by its content (replaying the same file twice changes
    nothing); standard input, which can be read only once, by a constant.
    The same pass checks that the file decodes, so that a file in another
    encoding is refused before any of its rows is replayed.
    """
    if data is None:
        return "stdin"
    digest = hashlib.blake2b(digest_size=5)
    decoder = codecs.getincrementaldecoder(encoding)()
    lines = 1
    for chunk in iter(lambda: data.read(1 << 20), b""):
        digest.update(chunk)
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as e:  # e.object: the chunk after a partial character
            raise undecodable(lines + e.object.count(b"\n", 0, e.start), encoding, e) from None
        lines += chunk.count(b"\n")
    return digest.hexdigest()


def decode_lines(raw: Iterable[bytes], encoding: str) -> Iterator[str]:
    """The lines of a byte stream read once (standard input), decoded line by line.

    Raises ``InvalidInput`` naming the first line that does not decode; the
    lines before it were already yielded.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    for line, data in enumerate(raw, 1):
        try:
            yield decoder.decode(data)
        except UnicodeDecodeError as e:
            raise undecodable(line, encoding, e, "the rows before it were replayed") from None


def undecodable(
    line: int, encoding: str, error: UnicodeDecodeError, done: str = "nothing was replayed"
) -> InvalidInput:
    byte = error.object[error.start : error.start + 1].hex()
    return InvalidInput(
        f"line {line} is not {encoding} (byte 0x{byte}): {done}; "
        "give its encoding with --encoding (e.g. --encoding latin-1)"
    )


class _Unterminated(Exception):
    """A quote left open at the end of a line (no field of this format spans lines)."""


class _OneLinePerRow:
    """Feeds ``csv.reader`` one line per row: an open quote must not swallow the next rows."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = iter(lines)
        self.row_done = True
        self.line = 0

    def __iter__(self) -> _OneLinePerRow:
        return self

    def __next__(self) -> str:
        if not self.row_done:  # the reader asks for a second line for one row
            self.row_done = True
            raise _Unterminated
        self.row_done = False
        text = next(self.lines)
        self.line += 1
        return text


def read_rows(
    lines: Iterable[str], tag: str, encoding: str = "utf-8-sig"
) -> Iterator[Row | BadRow]:
    """Parse ``type, client, tx, amount`` rows lazily, one result per non-blank line.

    A dispute, resolve or chargeback names its deposit in ``tx``; its own id is
    ``L<line>.<tag>``, which no numeric id of the file can collide with. A line
    the CSV reader refuses (an open quote, a field over 128 KiB) is a ``BadRow``.
    """
    feed = _OneLinePerRow(lines)
    reader = csv.reader(feed, skipinitialspace=True)
    seen_first = False
    while True:
        try:
            fields: list[str] | str = next(reader)
        except StopIteration:
            return
        except _Unterminated:
            fields = "a quote is not closed on its line"
        except csv.Error as e:  # a field over csv.field_size_limit(), a NUL byte, ...
            fields = str(e)
        feed.row_done = True
        if isinstance(fields, str):
            yield BadRow(feed.line, fields)
            continue
        cells = [f.strip() for f in fields]
        if not any(cells):
            continue
        if not seen_first:
            seen_first = True
            if tuple(c.lower() for c in cells) in (HEADER, HEADER[:3]):
                continue
        yield _parse(cells, feed.line, tag)


def _parse(cells: list[str], line: int, tag: str) -> Row | BadRow:
    if len(cells) == 3:
        cells.append("")
    if len(cells) != 4:
        return BadRow(line, f"expected 4 fields (type, client, tx, amount), got {len(cells)}")
    kind, client, tx, amount = cells
    kind = kind.lower()
    try:
        if kind in MONEY_TYPES:
            return Row(line, build_tx(client, tx, kind, amount or None))
        return Row(line, build_tx(client, f"L{line}.{tag}", kind, amount or None, tx))
    except InvalidInput as e:
        return BadRow(line, str(e))


def _client_order(client: str) -> tuple[int, int, str]:
    # Numeric clients (the classic exercise's u16) sort numerically, others after.
    return (0, int(client), "") if client.isdigit() else (1, 0, client)


def write_accounts(out: IO[str], accounts: Iterable[tuple[str, Account]]) -> None:
    """Print ``client,available,held,total,locked`` rows sorted by client."""
    out.write(OUTPUT_HEADER + "\n")
    for client, a in sorted(accounts, key=lambda item: _client_order(item[0])):
        total = format_amount(a.total)
        locked = "true" if a.locked else "false"
        out.write(
            f"{client},{format_amount(a.available)},{format_amount(a.held)},{total},{locked}\n"
        )
