"""End to end (DESIGN §7): accepted → applied through 1 ingest and 2 workers vs the raw pipeline.

On a throwaway Redis (no persistence):

1. the raw pipeline (``benchmarks/pipeline.py``) moves the workload's first
   ``entries`` payloads through XADD → XREADGROUP → XACK in one process;
2. a ``LocalStack`` (1 ingest, 2 workers, 16 shards) is given the same
   transactions flat out (batch POSTs of 1,000 over ``LANES`` connections):
   *peak* is applied tx/s from the first POST to the last commit;
3. the same stack is offered 25/50/75/100 % of that peak, paced over the
   same connections, for a few seconds each: achieved tx/s and latency
   accepted → applied (the ingest's ``at`` stamp to the ms of the ``:out``
   entry ID), p50 / p99.

Each run waits until every outcome of the previous one is committed.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psutil
import redis

from benchmarks import traffic
from benchmarks.worker import (
    SHARDS,
    Found,
    Workload,
    outcome_count,
    outcomes,
    percentile,
    reset,
    run_child,
    wait_until,
)
from services.cli.redis_process import RedisProcess, free_port
from services.cli.stack import LocalStack
from shared import keys
from shared.model import Tx

LANES = 2
SEED = 21
FRACTIONS = (0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class Sizes:
    entries: int  # flat-out run, and the raw pipeline
    paced_s: float  # each point of the sweep
    # Quick: a short lease so that the second worker gets its half of the shards
    # within a second (a heartbeat is ttl/3), not ~7 s, and a short idle read so that
    # the workers stop in ~0.1 s, not ~1 s (a new entry ends the wait at once);
    # throughput and latency do not depend on either.
    stack_env: dict[str, str]

    @classmethod
    def of(cls, quick: bool) -> Sizes:
        if quick:
            return cls(10_000, 1.0, {"TXFLOW_LEASE_TTL_MS": "1500", "TXFLOW_BLOCK_MS": "100"})
        return cls(200_000, 10.0, {})


# --- reading outcomes ----------------------------------------------------------------------


def latency(found: Found) -> dict[str, int]:
    lags = sorted(ms - doc["at"] for ms, doc in found)
    return {"p50_ms": percentile(lags, 0.5), "p99_ms": percentile(lags, 0.99), "max_ms": lags[-1]}


# --- the stack -----------------------------------------------------------------------------


def balanced(client: redis.Redis, workers: int) -> bool:
    """Every shard leased, evenly between ``workers`` workers."""
    owners = Counter(client.mget([k.lease for k in keys.shard_keys(SHARDS)]))
    return (
        None not in owners
        and len(owners) == workers
        and max(owners.values()) == -(-SHARDS // workers)
    )


@contextmanager
def environment(extra: dict[str, str]) -> Iterator[None]:
    """``extra`` in ``os.environ`` meanwhile: ``LocalStack`` gives its children this one."""
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def start_stack(url: str, client: redis.Redis, sizes: Sizes, tmp: Path) -> LocalStack:
    stack = LocalStack(workers=2, port=free_port(), redis_url=url, data_dir=tmp, shards=SHARDS)
    try:
        with environment(sizes.stack_env):
            stack.start()
        wait_until(lambda: balanced(client, 2), 60, "2 workers to share the shards")
    except BaseException:
        stack.stop()
        raise
    return stack


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    times = {name: psutil.Process(pid).cpu_times() for name, pid in pids.items()}
    return {name: t.user + t.system for name, t in times.items()}


def processes(stack: LocalStack, server: RedisProcess) -> dict[str, int]:
    assert server.proc is not None
    pids = {name: proc.pid for name, proc in stack.children.items()}
    return {**pids, "redis": server.proc.pid, "load generator": psutil.Process().pid}


# --- the runs ------------------------------------------------------------------------------


@dataclass
class Rig:
    """A running stack, its Redis, and how many outcomes the runs so far expect."""

    client: redis.Redis
    stack: LocalStack
    pids: dict[str, int]
    expected: int = 0

    def offer(self, run: Coroutine[Any, Any, traffic.Offered]) -> tuple[traffic.Offered, Found]:
        """Run ``run`` against the API, wait for all its outcomes, and return them."""
        offered = asyncio.run(run)
        self.expected += offered.entries
        wait_until(lambda: outcome_count(self.client) >= self.expected, 600, "every outcome")
        found = outcomes(self.client, since_ms=offered.start_ms)
        if len(found) != offered.entries:
            raise SystemExit(f"{len(found)} outcomes for {offered.entries} transactions offered")
        return offered, found


def span_s(offered: traffic.Offered, found: Found) -> float:
    """First POST to last commit."""
    return (max(ms for ms, _ in found) - offered.start_ms) / 1000


def raw_pipeline(client: redis.Redis, url: str, entries: int, log: Path) -> dict[str, Any]:
    reset(client, url)
    argv = [sys.executable, "-m", "benchmarks.pipeline", "--url", url, "--seed", str(SEED)]
    run = run_child([*argv, "--entries", str(entries)], {}, log, None)
    result: dict[str, Any] = orjson.loads(run.stdout)
    result["tx_s"] = result["entries"] / result["seconds"]
    result["wall_s"] = run.seconds
    return result


def flat_out(rig: Rig, txs: list[Tx]) -> dict[str, Any]:
    lanes = traffic.lanes_of(txs, LANES, SHARDS)
    before = cpu_seconds(rig.pids)
    offered, found = rig.offer(traffic.flat_out(rig.stack.api, lanes))
    after = cpu_seconds(rig.pids)
    return {
        "entries": len(txs),
        "accepted_tx_s": len(txs) / offered.seconds,
        "applied_tx_s": len(txs) / span_s(offered, found),
        "span_s": span_s(offered, found),
        "posts": offered.posts,
        "retries": offered.retries,
        "cpu_s": {name: after[name] - before[name] for name in rig.pids},
        "outcomes": dict(Counter(doc["o"] for _, doc in found)),
        **latency(found),
    }


def paced(rig: Rig, txs: list[Tx], rate: float) -> dict[str, Any]:
    lanes = traffic.lanes_of(txs, LANES, SHARDS)
    offered, found = rig.offer(traffic.paced(rig.stack.api, lanes, rate))
    return {
        "offered_tx_s": rate,
        "entries": len(txs),
        "sent_s": offered.seconds,  # longer than planned: the client could not keep the pace
        "posts": offered.posts,
        "achieved_tx_s": len(txs) / span_s(offered, found),
        "retries": offered.retries,
        **latency(found),
    }


def sweep(rig: Rig, workload: Workload, peak: float, seconds: float) -> list[dict[str, Any]]:
    points = []
    for fraction in FRACTIONS:
        rate = fraction * peak
        txs = workload.take(int(rate * seconds))
        points.append({"fraction": fraction, **paced(rig, txs, rate)})
    return points


def measure(client: redis.Redis, server: RedisProcess, sizes: Sizes, tmp: Path) -> dict[str, Any]:
    raw = raw_pipeline(client, server.url, sizes.entries, tmp / "pipeline.log")
    reset(client, server.url)
    stack = start_stack(server.url, client, sizes, tmp / "stack")
    try:
        rig = Rig(client, stack, processes(stack, server))
        workload = Workload(seed=SEED)
        peak = flat_out(rig, workload.take(sizes.entries))
        points = sweep(rig, workload, peak["applied_tx_s"], sizes.paced_s)
    finally:
        stack.stop()
    return {
        "raw": raw,
        "txflow": peak,
        "sweep": points,
        "half_peak": next(p for p in points if p["fraction"] == 0.5),
        "ratio_vs_raw": peak["applied_tx_s"] / raw["tx_s"],
        "lanes": LANES,
        "paced_s": sizes.paced_s,
        "stack_env": sizes.stack_env,
    }


def benchmark(quick: bool, tmp: Path) -> dict[str, Any]:
    server = RedisProcess(tmp / "redis", persistence="none").start()
    client = redis.Redis.from_url(server.url)
    try:
        return measure(client, server, Sizes.of(quick), tmp)
    finally:
        client.close()
        server.stop()
