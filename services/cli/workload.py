"""Realistic synthetic transactions: deposits, withdrawals, disputes and their ends."""

from __future__ import annotations

import random
from collections.abc import Iterator

from shared.model import Tx, TxType


def generate(accounts: int, seed: int = 1, prefix: str = "acct") -> Iterator[Tx]:
    """An endless interleaved stream; each account's tx ids are its sequence ``000001``...

    About 55 % deposits, 30 % withdrawals, 15 % disputes, resolves and
    chargebacks of the account's earlier deposits (so some are rejected).
    """
    rng = random.Random(seed)
    names = [f"{prefix}-{a}" for a in range(accounts)]
    sequence = dict.fromkeys(names, 0)
    deposits: dict[str, list[str]] = {name: [] for name in names}
    while True:
        account = rng.choice(names)
        sequence[account] += 1
        tx_id = f"{sequence[account]:06d}"
        roll = rng.random()
        if roll < 0.55 or not deposits[account]:
            deposits[account].append(tx_id)
            del deposits[account][:-50]  # refer to recent deposits only: bounded memory
            yield Tx(account, tx_id, TxType.DEPOSIT, rng.randrange(1, 10**6))
        elif roll < 0.85:
            yield Tx(account, tx_id, TxType.WITHDRAWAL, rng.randrange(1, 10**6))
        else:
            kind = rng.choice([TxType.DISPUTE, TxType.RESOLVE, TxType.CHARGEBACK])
            yield Tx(account, tx_id, kind, None, rng.choice(deposits[account]))
