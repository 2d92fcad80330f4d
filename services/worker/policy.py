"""The shard runner's rules, as pure functions (``shard.py`` applies them)."""

from __future__ import annotations


def exhausted(failures: int, max_deliveries: int) -> bool:
    """Whether an entry that failed ``failures`` deliveries is given up on.

    A failure is a delivery whose processing raised, or one that ended without
    a commit (the worker died: XPENDING counts the delivery, nothing committed
    it). After ``max_deliveries`` failures the entry's account is parked. The
    one rule for both ways of counting: a runner whose processing just raised
    passes the entry's delivery count; a runner that claimed the entry and has
    not processed it yet passes the count less its own delivery.
    """
    return failures >= max_deliveries


def out_entries(out_maxlen: int, outs_per_commit: float) -> int:
    """The cap of ``:out`` in entries (one per commit) that keeps about ``out_maxlen`` outcomes."""
    return max(1, int(out_maxlen / max(1.0, outs_per_commit)))
