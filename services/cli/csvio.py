"""The classic exercise's CSV (DESIGN §8): rows in, accounts out.

Shared by every replay engine: the reader turns lines into transactions (or a
reason the line is skipped), the writer prints accounts in the one format.
"""

from __future__ import annotations

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


def source_tag(data: IO[bytes] | None) -> str:
    """A short digest naming an input, so generated ids are stable across replays.

    A file is named by its content (replaying the same file twice changes
    nothing); standard input, which can be read only once, by a constant.
    """
    if data is None:
        return "stdin"
    digest = hashlib.blake2b(digest_size=5)
    for chunk in iter(lambda: data.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def read_rows(lines: Iterable[str], tag: str) -> Iterator[Row | BadRow]:
    """Parse ``type, client, tx, amount`` rows lazily, one result per non-blank row.

    A dispute, resolve or chargeback names its deposit in ``tx``; its own id is
    ``L<line>.<tag>``, which no numeric id of the file can collide with.
    """
    reader = csv.reader(lines, skipinitialspace=True)
    seen_first = False
    for fields in reader:
        line = reader.line_num
        cells = [f.strip() for f in fields]
        if not any(cells):
            continue
        if not seen_first:
            seen_first = True
            if tuple(c.lower() for c in cells) in (HEADER, HEADER[:3]):
                continue
        yield _parse(cells, line, tag)


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
