"""The peer corpus (``../shared/peer-corpus``): discovery and comparison rules."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "peer-corpus"


@dataclass(frozen=True)
class Case:
    name: str
    input: Path
    expected: Path
    matches: bool
    hinges_on: str


def cases() -> list[Case]:
    index = CORPUS / "INDEX.tsv"
    if not index.exists():
        return []
    found = []
    with index.open() as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if not row["expected"]:
                continue
            base = CORPUS / row["repo_dir"]
            found.append(
                Case(
                    f"{row['repo_dir']}:{row['case']}",
                    base / row["input"],
                    base / row["expected"],
                    row["recommended_matches"] == "yes",
                    row["hinges_on"],
                )
            )
    return found


Accounts = dict[str, tuple[Decimal, Decimal, Decimal, bool]]


def parse_accounts(text: str) -> Accounts:
    """Rows by client, numbers at 4 places; an all-zero unlocked row counts as none."""
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    header = [h.strip().lower() for h in rows[0]]
    q = Decimal("0.0001")
    accounts: Accounts = {}
    for raw in rows[1:]:
        r = dict(zip(header, (c.strip() for c in raw), strict=True))
        available, held, total = (Decimal(r[k]).quantize(q) for k in ("available", "held", "total"))
        locked = r["locked"].lower() == "true"
        if (available, held, total, locked) != (0, 0, 0, False):
            accounts[r["client"]] = (available, held, total, locked)
    return accounts
