"""Part ``e2e``: 1 ingest + 2 workers (a ``LocalStack``), flat out then paced at shares of
that peak, vs the raw XADD + read + ack pipeline; RESULTS.md says how."""

from __future__ import annotations

import functools
import itertools
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import uvloop

from benchmarks import load
from benchmarks.raw import pipeline
from benchmarks.rig import SHARD_KEYS, SHARDS, Rig, cpu_s, redis_rig, rows, transactions, wait_until
from services.cli.redis_process import free_port
from services.cli.stack import LocalStack
from shared.model import Tx

ACCOUNTS, SEED, LANES = 10_000, 21, 2
FRACTIONS = (0.25, 0.5, 0.75, 1.0)
# Quick: a short lease, so that the second worker takes its half of the shards within a
# second, and a short idle read, so that workers stop at once; neither changes the rates.
QUICK_ENV = {"TXFLOW_LEASE_TTL_MS": "1500", "TXFLOW_BLOCK_MS": "100"}
SIZES = {True: (10_000, 1.0, QUICK_ENV), False: (200_000, 10.0, {})}  # flat out, s per point


def even(rig: Rig) -> bool:
    """Every shard leased, half of them to each of the 2 workers."""
    owners = Counter(rig.client.mget([k.lease for k in SHARD_KEYS]))
    return None not in owners and sorted(owners.values()) == [SHARDS // 2] * 2


@contextmanager
def stack(rig: Rig, env: dict[str, str], tmp: Path) -> Iterator[LocalStack]:
    """1 ingest and 2 workers on ``rig``'s Redis, once the workers share the shards evenly."""
    local = LocalStack(
        workers=2, port=free_port(), redis_url=rig.server.url, data_dir=tmp, shards=SHARDS
    )
    with mock.patch.dict(os.environ, env):
        os.environ.pop("TXFLOW_API_TOKEN", None)
        try:
            local.start()
            wait_until(lambda: even(rig), 60, "2 workers to share the shards")
            yield local
        finally:
            local.stop()


def offer(rig: Rig, api: str, txs: list[Tx], rate: float | None) -> dict[str, Any]:
    """``txs`` through the API, flat out (``rate`` None) or paced; once all are committed."""
    expected = rig.committed() + len(txs)
    start_ms = time.time_ns() // 1_000_000
    sent = uvloop.run(load.lanes(api, load.split(txs, LANES), rate))
    wait_until(lambda: rig.committed() >= expected, 600, "every outcome")
    commits, outcomes = rig.outcomes(len(txs), since_ms=start_ms)
    span_s = (max(ms for ms, _ in commits) - start_ms) / 1000
    lags = [ms - o["at"] for ms, found in commits for o in found]
    p50, p99 = load.percentiles(lags)
    return sent | {
        "entries": len(txs),
        "accepted_tx_s": len(txs) / sent["seconds"],
        "applied_tx_s": len(txs) / span_s,
        "span_s": span_s,
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": max(lags),
        "outcomes": outcomes,
    }


def part(quick: bool, tmp: Path) -> dict[str, Any]:
    entries, paced_s, env = SIZES[quick]
    workload = transactions(ACCOUNTS, 10**12, seed=SEED)
    first = list(itertools.islice(workload, entries))
    now = time.time_ns() // 1_000_000
    raw_rows = list(rows(tx._replace(accepted_at=now) for tx in first))
    with redis_rig(tmp) as rig:
        rig.reset()
        baseline = rig.consume("raw", functools.partial(pipeline, rows=raw_rows))
        rig.reset()
        with stack(rig, env, tmp / "stack") as local:
            assert rig.server.proc is not None
            pids = {name: p.pid for name, p in local.children.items()}
            pids |= {"redis": rig.server.proc.pid, "load generator": os.getpid()}
            cpu = {name: cpu_s(pid) for name, pid in pids.items()}
            peak = offer(rig, local.api, first, None)
            peak["cpu_s"] = {name: cpu_s(pid) - cpu[name] for name, pid in pids.items()}
            sweep = []
            for fraction in FRACTIONS:
                rate = fraction * peak["applied_tx_s"]
                txs = list(itertools.islice(workload, int(rate * paced_s)))
                sweep.append(
                    {"fraction": fraction, "offered_tx_s": rate, **offer(rig, local.api, txs, rate)}
                )
    return {
        "raw": baseline,
        "txflow": peak,
        "sweep": sweep,
        "ratio_vs_raw": peak["applied_tx_s"] / baseline["msg_s"],
        "accounts": ACCOUNTS,
        "lanes": LANES,
        "paced_s": paced_s,
        "stack_env": env,
    }
