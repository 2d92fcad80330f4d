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

import itertools
import os
import time
from pathlib import Path
from typing import Any

import uvloop

from benchmarks import load
from benchmarks.e2e import SIZES as E2E_SIZES
from benchmarks.e2e import stack
from benchmarks.rig import Rig, cpu_s, redis_rig, transactions, wait_until
from shared.model import Tx

ACCOUNTS, SEED, CONNECTIONS, WAIT_S = 10_000, 23, 64, 10
SIZES = {True: (4_000, 4.0), False: (40_000, 20.0)}  # flat-out tx, seconds per paced run


def run(
    rig: Rig, api: str, txs: list[Tx], rate: float | None, wait: bool, ingest: int
) -> dict[str, Any]:
    """``txs`` posted; once all are committed, the figures and ingest's CPU per tx."""
    expected = rig.committed() + len(txs)
    start_ms, cpu = time.time_ns() // 1_000_000, cpu_s(ingest)
    headers = load.HEADERS | ({"prefer": f"wait={WAIT_S}"} if wait else {})
    found = uvloop.run(load.singles(api, load.split(txs, CONNECTIONS), rate, headers))
    found["ingest_cpu_us_per_tx"] = round((cpu_s(ingest) - cpu) / len(txs) * 1e6, 1)
    wait_until(lambda: rig.committed() >= expected, 600, "every outcome")
    commits, outcomes = rig.outcomes(len(txs), since_ms=start_ms)
    p50, p99 = load.percentiles([ms - o["at"] for ms, got in commits for o in got])
    return found | {
        "entries": len(txs),
        "commit_p50_ms": p50,
        "commit_p99_ms": p99,
        "outcomes": outcomes,
    }


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
    shape = {"connections": CONNECTIONS, "wait_s": WAIT_S, "accounts": ACCOUNTS}
    return {"peak": peak, "offered_tx_s": rate, **paced, **shape, "cpus": os.cpu_count()}
