"""Parts ``worker`` and ``scale``: a burst worker vs the bare loops over the same
pre-filled streams, at 10,000 accounts and at 1 k to 1 M; RESULTS.md says how."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

from benchmarks.raw import bare_loop, one_at_a_time
from benchmarks.rig import SHARD_KEYS, SHARDS, Burst, Rig, redis_rig, transactions
from shared.model import Tx

ACCOUNTS = 10_000
WORKER = {True: (40_000, 2_000, 1), False: (200_000, 20_000, 3)}  # entries, one at a time, rounds
SCALE = {True: ((1_000, 5_000, 10_000), 10_000), False: ((1_000, 100_000, 1_000_000), 1_000_000)}
BARE = functools.partial(bare_loop, count=500)  # the worker's default batch


def drain(rig: Rig, name: str, entries: int, fixed: Burst) -> dict[str, Any]:
    """One burst worker over the streams as filled; its rates, its costs net of ``fixed``."""
    run = rig.burst(name)
    commits, outcomes = rig.outcomes(entries)
    first, last = min(ms for ms, _ in commits), max(ms for ms, _ in commits)
    after_first = sum(len(found) for ms, found in commits if ms > first)
    return {
        "entries": entries,
        "wall_s": run.seconds,
        "wall_tx_s": entries / run.seconds,
        "steady_tx_s": after_first / max(last - first, 1) * 1000,
        "cpu_us_per_tx": (run.cpu_s - fixed.cpu_s) / entries * 1e6,
        "redis_cpu_us_per_tx": (run.redis_cpu_s - fixed.redis_cpu_s) / entries * 1e6,
        "peak_rss_mb": run.peak_rss_mb,
        "outcomes": outcomes,
    }


def worker_round(rig: Rig, txs: list[Tx], single: int, fixed: Burst, n: int) -> dict[str, Any]:
    rig.reset()
    rig.fill(txs)
    bare = rig.consume("bare", BARE)
    one = rig.consume("single", functools.partial(one_at_a_time, per_inbox=single // SHARDS))
    w = drain(rig, f"worker-{n}", len(txs), fixed)
    return {
        "worker": w,
        "bare": bare,
        "single": one,
        "vs_bare": w["steady_tx_s"] / bare["msg_s"],
        "vs_single": w["steady_tx_s"] / one["msg_s"],
        "redis_vs_bare": w["redis_cpu_us_per_tx"] / bare["redis_cpu_us_per_msg"],
    }


def worker_part(quick: bool, tmp: Path) -> dict[str, Any]:
    entries, single, rounds = WORKER[quick]
    txs = list(transactions(ACCOUNTS, entries))
    with redis_rig(tmp) as rig:
        fixed, found = rig.fixed_cost(), []
        for n in range(rounds):
            print(f"  round {n + 1}/{rounds}", file=sys.stderr)
            found.append(worker_round(rig, txs, single, fixed, n))
    found.sort(key=lambda r: r["vs_bare"])  # the figures: the round of the median ratio
    ratios = [{k: r[k] for k in ("vs_bare", "vs_single", "redis_vs_bare")} for r in found]
    median = found[len(found) // 2]
    return median | {"accounts": ACCOUNTS, "rounds": ratios, "fixed_cpu_s": fixed.cpu_s}


def scale_size(rig: Rig, accounts: int, entries: int, fixed: Burst) -> dict[str, Any]:
    empty = rig.reset()
    named = rig.fill(transactions(accounts, entries))
    bare = rig.consume("bare", BARE)
    run = drain(rig, f"worker-{accounts}", entries, fixed)
    used = rig.used_memory()
    rig.client.delete(*[key for k in SHARD_KEYS for key in (k.inbox, k.outbox, k.dlq)])
    return run | {
        "accounts": accounts,
        "accounts_named": named,
        "bare_redis_cpu_us_per_msg": bare["redis_cpu_us_per_msg"],
        "redis_vs_bare": run["redis_cpu_us_per_tx"] / bare["redis_cpu_us_per_msg"],
        "redis_used_memory_mb": used / 2**20,
        "state_bytes_per_tx": (rig.used_memory() - empty) / entries,  # the streams deleted
    }


def scale_part(quick: bool, tmp: Path) -> dict[str, Any]:
    sizes, entries = SCALE[quick]
    with redis_rig(tmp) as rig:
        fixed, runs = rig.fixed_cost(), []
        for accounts in sizes:
            print(f"  {accounts:,} accounts", file=sys.stderr)
            runs.append(scale_size(rig, accounts, entries, fixed))
    rss = [r["peak_rss_mb"] for r in runs]
    return {
        "entries": entries,
        "fixed_cpu_s": fixed.cpu_s,
        "runs": runs,
        "cost_ratio": runs[-1]["cpu_us_per_tx"] / runs[0]["cpu_us_per_tx"],
        "rss_ratio": max(rss) / min(rss),
    }
