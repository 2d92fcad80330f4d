"""Part ``wait``: single POSTs answered with their outcome (``Prefer: wait``) against the
asynchronous path (``202``; the outcome learnt later), at half of the single-POST peak.

1 ingest + 2 workers (``e2e.stack``). The peak is the single-POST path flat out
(``CONNECTIONS`` keep-alive connections, no header). At half of it, the same
offered rate twice on fresh transactions: without the header (request latency
to the ``202``, and accepted → committed from ``:out``: what a poller could
learn at best) and with ``Prefer: wait=10`` (request latency to the ``200``
with the outcome in hand). Each connection posts its own accounts in order.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import uvloop

from benchmarks import load
from benchmarks.e2e import SIZES as E2E_SIZES
from benchmarks.e2e import stack
from benchmarks.rig import Rig, cpu_s, redis_rig, transactions, wait_until
from shared.model import Tx

ACCOUNTS, SEED, CONNECTIONS, WAIT_S = 10_000, 23, 64, 10
SIZES = {True: (4_000, 4.0), False: (40_000, 20.0)}  # flat-out tx, seconds per paced run


def split(txs: list[Tx]) -> list[list[bytes]]:
    lanes: list[list[bytes]] = [[] for _ in range(CONNECTIONS)]
    for tx in txs:
        lanes[zlib.crc32(tx.account_id.encode()) % CONNECTIONS].append(orjson.dumps(tx.to_wire()))
    return lanes


async def singles(
    url: str, lanes: list[list[bytes]], rate: float | None, wait: bool
) -> dict[str, Any]:
    """Every lane's bodies, one POST each in order; paced at ``rate`` tx/s in all, or flat out."""
    headers = load.HEADERS | ({"prefer": f"wait={WAIT_S}"} if wait else {})
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    total = sum(map(len, lanes))
    async with load.session(url, len(lanes)) as http:
        start = time.perf_counter()

        async def lane(own: list[bytes]) -> None:
            share = None if rate is None else rate * len(own) / total
            for n, body in enumerate(own):
                if share:
                    ahead = start + n / share - time.perf_counter()
                    if ahead > 0:
                        await asyncio.sleep(ahead)
                sent = time.perf_counter()
                while True:
                    async with http.post("/v1/transactions", data=body, headers=headers) as r:
                        await r.read()
                    if r.status not in load.RETRYABLE:
                        break
                    await asyncio.sleep(float(r.headers.get("retry-after", "0.1")))
                latencies.append(time.perf_counter() - sent)
                statuses[r.status] += 1

        await asyncio.gather(*(lane(own) for own in lanes if own))
        seconds = time.perf_counter() - start
    cuts = statistics.quantiles([s * 1000 for s in latencies], n=100)
    return {
        "seconds": seconds, "tx_s": total / seconds, "statuses": dict(statuses),
        "request_p50_ms": round(cuts[49], 1), "request_p99_ms": round(cuts[98], 1),
        "request_max_ms": round(max(latencies) * 1000, 1),
    }  # fmt: skip


def run(
    rig: Rig, api: str, txs: list[Tx], rate: float | None, wait: bool, ingest: int
) -> dict[str, Any]:
    """``txs`` posted; once all are committed, the figures and ingest's CPU per tx."""
    expected = rig.committed() + len(txs)
    start_ms, cpu = time.time_ns() // 1_000_000, cpu_s(ingest)
    found = uvloop.run(singles(api, split(txs), rate, wait))
    found["ingest_cpu_us_per_tx"] = round((cpu_s(ingest) - cpu) / len(txs) * 1e6, 1)
    wait_until(lambda: rig.committed() >= expected, 600, "every outcome")
    commits, outcomes = rig.outcomes(len(txs), since_ms=start_ms)
    lags = statistics.quantiles([ms - o["at"] for ms, got in commits for o in got], n=100)
    return found | {
        "entries": len(txs), "commit_p50_ms": round(lags[49]), "commit_p99_ms": round(lags[98]),
        "outcomes": outcomes,
    }  # fmt: skip


def part(quick: bool, tmp: Path) -> dict[str, Any]:
    flat, paced_s = SIZES[quick]
    env = E2E_SIZES[quick][2]
    workload = transactions(ACCOUNTS, 10**12, seed=SEED)
    with redis_rig(tmp) as rig:
        rig.reset()
        with stack(rig, env, tmp / "stack") as local:
            ingest = local.children["ingest"].pid
            peak = run(rig, local.api, list(itertools.islice(workload, flat)), None, False, ingest)
            rate = peak["tx_s"] / 2
            half = int(rate * paced_s)
            paced = {
                name: run(
                    rig, local.api, list(itertools.islice(workload, half)), rate, wait, ingest
                )
                for name, wait in (("async", False), ("sync", True))
            }
    return {
        "peak": peak, "offered_tx_s": rate, **paced, "connections": CONNECTIONS,
        "wait_s": WAIT_S, "accounts": ACCOUNTS, "cpus": os.cpu_count(),
    }  # fmt: skip
