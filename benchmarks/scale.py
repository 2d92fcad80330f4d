"""Scale (DESIGN §7): a worker's cost per transaction and its memory as accounts grow.

For each account count, on a flushed Redis (no persistence), the shard
streams are pre-filled with the same ``entries`` transactions — the same
types and amounts in the same order, only the account names differ, and every
account appears — and one ``python -m services.worker --burst`` drains them.
Measured: the worker's CPU (psutil ``cpu_times``, user + system, read when it
has exited and before it is reaped) net of the fixed cost of a burst worker
on an empty deployment, per transaction; Redis's CPU per transaction; wall
and steady tx/s; the worker's peak RSS (sampled every 50 ms) and Redis's
used memory.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
import redis

from benchmarks.worker import (
    SHARDS,
    PeakRss,
    append,
    finish,
    read_stream,
    reset,
    rows_of,
    spawn,
    steady_rate,
    worker_argv,
    worker_env,
)
from services.cli.redis_process import RedisProcess
from shared import keys
from shared.model import Tx, TxType
from shared.outcomes import unpack
from shared.settings import Settings

SEED = 5
FILL_CHUNK = 50_000
BLOCK_MS = 100  # a burst worker exits after one empty read per shard: keep that tail short


@dataclass(frozen=True)
class Sizes:
    accounts: tuple[int, ...]
    entries: int

    @classmethod
    def of(cls, quick: bool) -> Sizes:
        if quick:
            return cls((1_000, 5_000, 10_000), 10_000)
        return cls((1_000, 100_000, 1_000_000), 1_000_000)


def transactions(accounts: int, entries: int, seed: int = SEED) -> Iterator[Tx]:
    """``entries`` transactions naming each of ``accounts`` accounts at least once.

    The first ``accounts`` entries name every account once (shuffled), the
    rest accounts at random. Types and amounts do not depend on ``accounts``:
    60 % deposits, 30 % withdrawals, 10 % disputes (or resolves, when the
    account has a dispute open) of the account's latest deposit — of an
    unknown id when it has none, which is rejected.
    """
    kinds, names = random.Random(seed), random.Random(seed + 1)
    order = list(range(accounts))
    names.shuffle(order)
    latest: dict[int, str] = {}
    disputed: dict[int, str] = {}
    for n in range(entries):
        account = order[n] if n < accounts else names.randrange(accounts)
        name, tx_id, roll = f"scale-{account}", f"t{n}", kinds.random()
        if roll < 0.6:
            latest[account] = tx_id
            yield Tx(name, tx_id, TxType.DEPOSIT, kinds.randrange(1, 1_000_000))
        elif roll < 0.9:
            yield Tx(name, tx_id, TxType.WITHDRAWAL, kinds.randrange(1, 500_000))
        elif account in disputed:
            yield Tx(name, tx_id, TxType.RESOLVE, ref_tx_id=disputed.pop(account))
        else:
            ref = disputed[account] = latest.get(account, "t-none")
            yield Tx(name, tx_id, TxType.DISPUTE, ref_tx_id=ref)


def fill(client: redis.Redis, url: str, txs: Iterator[Tx]) -> float:
    """A fresh deployment whose streams hold ``txs``; the seconds it took."""
    start = time.perf_counter()
    reset(client, url)
    while chunk := list(itertools.islice(txs, FILL_CHUNK)):
        append(client, rows_of(chunk))
    return time.perf_counter() - start


@dataclass(frozen=True)
class Burst:
    """A burst worker that ran to its end."""

    seconds: float
    cpu_s: float
    peak_rss: int
    redis_cpu_s: float


def cpu_of(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def burst(url: str, server: psutil.Process, log: Path) -> Burst:
    """Run one ``--burst`` worker; its CPU is read once it exited, before it is reaped."""
    env = worker_env(url, BLOCK_MS)
    redis_before, started = cpu_of(server), time.perf_counter()
    proc = spawn(worker_argv(burst=True), env, log)
    worker = psutil.Process(proc.pid)
    with PeakRss(proc.pid) as rss:
        while worker.status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.01)
        cpu_s = cpu_of(worker)
        run = finish(proc, started, rss, log)
    return Burst(run.seconds, cpu_s, run.peak_rss, cpu_of(server) - redis_before)


def outcome_summary(client: redis.Redis) -> tuple[int, float, dict[str, int]]:
    """Outcome count, steady tx/s (first → last commit) and the outcome mix."""
    commit_ms: list[int] = []
    mix: Counter[str] = Counter()
    for k in keys.shard_keys(SHARDS):
        for entry_id, fields in read_stream(client, k.outbox):
            for doc in unpack(fields):
                commit_ms.append(int(entry_id.split(b"-")[0]))
                mix[doc["o"] if doc["o"] != "rejected" else f"rejected: {doc.get('r')}"] += 1
    return len(commit_ms), steady_rate(commit_ms), dict(mix.most_common())


def used_memory_mb(client: redis.Redis) -> float:
    info: Any = client.info("memory")
    return float(info["used_memory"]) / 2**20


@dataclass(frozen=True)
class Rig:
    """The throwaway Redis the runs share, and where the workers' logs go."""

    client: redis.Redis
    server: RedisProcess
    tmp: Path

    def burst(self, name: str) -> Burst:
        assert self.server.proc is not None
        return burst(self.server.url, psutil.Process(self.server.proc.pid), self.tmp / name)


def fixed_cost(rig: Rig) -> Burst:
    """A burst worker on an empty deployment: start-up, imports, leases, the idle tail."""
    reset(rig.client, rig.server.url)
    return rig.burst("worker-empty.log")


def one_size(rig: Rig, accounts: int, entries: int, fixed: Burst) -> dict[str, Any]:
    fill_s = fill(rig.client, rig.server.url, transactions(accounts, entries))
    run = rig.burst(f"worker-{accounts}.log")
    count, steady, mix = outcome_summary(rig.client)
    if count != entries:
        raise SystemExit(f"{accounts:,} accounts: {count:,} outcomes for {entries:,} entries")
    return {
        "accounts": accounts,
        "entries": entries,
        "fill_s": fill_s,
        "wall_s": run.seconds,
        "wall_tx_s": entries / run.seconds,
        "steady_tx_s": steady,
        "worker_cpu_s": run.cpu_s,
        "worker_cpu_us_per_tx": (run.cpu_s - fixed.cpu_s) / entries * 1e6,
        "redis_cpu_us_per_tx": (run.redis_cpu_s - fixed.redis_cpu_s) / entries * 1e6,
        "peak_rss_mb": run.peak_rss / 2**20,
        "redis_used_memory_mb": used_memory_mb(rig.client),
        "outcomes": mix,
    }


def benchmark(quick: bool, tmp: Path) -> dict[str, Any]:
    sizes = Sizes.of(quick)
    server = RedisProcess(tmp / "redis", persistence="none").start()
    client = redis.Redis.from_url(server.url)
    try:
        rig = Rig(client, server, tmp)
        fixed = fixed_cost(rig)
        runs = [one_size(rig, accounts, sizes.entries, fixed) for accounts in sizes.accounts]
    finally:
        client.close()
        server.stop()
    first, last = runs[0], runs[-1]
    peaks = [r["peak_rss_mb"] for r in runs]
    return {
        "entries": sizes.entries,
        "cache_max_accounts": Settings.model_fields["cache_max_accounts"].default,
        "block_ms": BLOCK_MS,
        "fixed": asdict(fixed),
        "runs": runs,
        "cost_ratio": last["worker_cpu_us_per_tx"] / first["worker_cpu_us_per_tx"],
        "wall_ratio": first["wall_tx_s"] / last["wall_tx_s"],
        "rss_ratio": max(peaks) / min(peaks),
    }
