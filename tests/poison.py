"""A test hook: processing chosen transactions raises, as a poison entry's would.

Test-only, and kept out of production by construction: no service imports
this module or reads its variable. In-process tests install a ``Poison`` with
pytest's monkeypatch (``install``). Worker processes of the process tests and
of the soak run ``python -m tests.poison --id W`` in place of
``python -m services.worker``: it installs a ``PoisonDir`` from the directory
named by ``TXFLOW_TEST_POISON`` (read here only), then runs the worker's own
``main``. The directory's files are read again when they change (looked at
every 0.1 s, and before any raise), so a test removes the fault while the
worker runs:

- ``accounts``: account ids, one a line: every transaction of theirs raises;
- ``rate``: N: a transaction whose ``crc32(account/tx_id) % N == 0`` raises;
- ``healed``: ``account tx_id`` lines: these raise no more (the soak fixes
  a poison entry's cause, then retries its parked account).

The hook wraps ``validation.check``, the rule every decision runs: a raise
there is a raise in the worker's decision path, as a bug's would be.
"""

from __future__ import annotations

import os
import sys
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from services.worker import validation
from services.worker.accounts import Account, PackedRecord
from shared.model import Reason, Tx

if TYPE_CHECKING:  # (a worker process under the hook starts without importing pytest)
    import pytest

ENV = "TXFLOW_TEST_POISON"
Check = Callable[[Account, Tx, PackedRecord | None], Reason | None]


class Poison:
    """Which transactions raise: of ``accounts``, ``txs`` ("account tx_id"), 1 in ``rate``
    by the rate rule; none of ``healed`` ("account tx_id")."""

    def __init__(
        self,
        accounts: Iterable[str] = (),
        txs: Iterable[str] = (),
        rate: int = 0,
        healed: Iterable[str] = (),
    ) -> None:
        self.accounts = set(accounts)
        self.txs = set(txs)
        self.rate = rate
        self.healed = set(healed)

    def poisoned(self, tx: Tx) -> bool:
        key = f"{tx.account_id} {tx.tx_id}"
        if key in self.healed:
            return False
        if tx.account_id in self.accounts or key in self.txs:
            return True
        return self.rate > 0 and rated(tx, self.rate)

    def wrap(self, real: Check) -> Check:
        def check(account: Account, tx: Tx, ref: PackedRecord | None) -> Reason | None:
            if self.poisoned(tx):
                raise RuntimeError(f"injected poison: {tx.account_id}/{tx.tx_id}")
            return real(account, tx, ref)

        return check


def rated(tx: Tx, rate: int) -> bool:
    """Whether ``tx`` is one of the 1 in ``rate`` poisoned by the rate rule."""
    return zlib.crc32(f"{tx.account_id}/{tx.tx_id}".encode()) % rate == 0


def install(poison: Poison, monkeypatch: pytest.MonkeyPatch) -> Poison:
    monkeypatch.setattr(validation, "check", poison.wrap(validation.check))
    return poison


class PoisonDir(Poison):
    """A ``Poison`` read from a directory's files (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        self.read_at = 0.0
        self.seen: dict[str, tuple[int, int]] = {}  # file → (inode, mtime): replaced files

    def poisoned(self, tx: Tx) -> bool:
        if time.monotonic() - self.read_at > 0.1:
            self.refresh()
        if not super().poisoned(tx):
            return False
        self.refresh()  # never raise on what the test removed a moment ago
        return super().poisoned(tx)

    def refresh(self) -> None:
        self.read_at = time.monotonic()
        for name in ("accounts", "rate", "healed"):
            path = self.directory / name
            try:
                stat = path.stat()
                version = (stat.st_ino, stat.st_mtime_ns)
                text = path.read_text() if self.seen.get(name) != version else None
            except FileNotFoundError:
                version, text = (0, 0), ""
            if text is None or self.seen.get(name) == version:
                continue
            self.seen[name] = version
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            if name == "accounts":
                self.accounts = set(lines)
            elif name == "rate":
                self.rate = int(lines[0]) if lines else 0
            else:
                self.healed = set(lines)


def write(directory: Path, name: str, lines: Iterable[str]) -> None:
    """Replace one of the hook's files at once (a reader never sees half of it)."""
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{name}.tmp"
    temporary.write_text("".join(f"{line}\n" for line in lines))
    os.replace(temporary, directory / name)


def main() -> int:
    from services.worker.__main__ import main as worker_main

    directory = Path(os.environ[ENV])
    validation.check = PoisonDir(directory).wrap(validation.check)  # type: ignore[assignment]
    return worker_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
