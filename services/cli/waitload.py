"""``txflow load --wait N``: single POSTs with ``Prefer: wait=N``, timed one by one.

``concurrency`` clients post at once, each its own share of the accounts in
workload order (an account's transactions stay in order), each POST waiting
for its answer. What is measured is what a client sees: from sending a
transaction (its first attempt) to the answer with its outcome (``200``) —
or to the ``202`` when it was not decided within N seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import zlib
from collections import Counter
from typing import Any, NotRequired, TypedDict

import httpx
import orjson

from services.cli import workload
from services.cli.load import percentiles
from services.cli.poster import RETRYABLE, ApiError, refused_with
from shared.model import Tx


class WaitSummary(TypedDict):
    """What ``txflow load --wait`` measured (``sync_latency_ms``: two answers at least)."""

    transactions: int
    wait_s: int
    concurrency: int
    answered_per_s: int
    decided_in_time: int
    not_decided_202: int
    outcomes: dict[str, int]
    sync_latency_ms: NotRequired[dict[str, float]]


def wait_load(
    api: str,
    token: str | None,
    accounts: int,
    count: int,
    rate: float,
    seed: int,
    *,
    wait_s: int,
    concurrency: int,
) -> WaitSummary:
    """Post ``count`` transactions one per request (at ``rate`` tx/s in all, 0 = at once)."""
    txs = list(itertools.islice(workload.generate(accounts, seed, prefix=f"load{seed}"), count))
    shares: list[list[Tx]] = [[] for _ in range(concurrency)]
    for tx in txs:
        shares[zlib.crc32(tx.account_id.encode()) % concurrency].append(tx)
    return asyncio.run(_run(api, token, shares, rate, wait_s))


async def _run(
    api: str, token: str | None, shares: list[list[Tx]], rate: float, wait_s: int
) -> WaitSummary:
    headers = {"prefer": f"wait={wait_s}", "content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    outcomes: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=len(shares))
    started = time.monotonic()
    per_client = rate / len(shares) if rate > 0 else 0.0

    async def client(http: httpx.AsyncClient, txs: list[Tx]) -> None:
        for n, tx in enumerate(txs):
            if per_client:
                ahead = n / per_client - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            sent = time.monotonic()
            status, doc = await _post(http, orjson.dumps(tx.to_wire()), headers, wait_s)
            latencies.append(time.monotonic() - sent)
            statuses[status] += 1
            if status == 200:
                reason = doc.get("reason")
                outcomes[
                    doc["outcome"] if doc["outcome"] != "rejected" else f"rejected: {reason}"
                ] += 1

    check = refused_with(token)

    async def refused(response: httpx.Response) -> None:
        await response.aread()
        check(response)

    hooks = {"response": [refused]}
    async with httpx.AsyncClient(
        base_url=api, timeout=wait_s + 60, limits=limits, event_hooks=hooks
    ) as http:
        await asyncio.gather(*(client(http, share) for share in shares if share))
    elapsed = time.monotonic() - started
    return summary(latencies, statuses, outcomes, elapsed, wait_s, len(shares))


async def _post(
    http: httpx.AsyncClient, body: bytes, headers: dict[str, str], wait_s: int
) -> tuple[int, dict[str, Any]]:
    """Post until answered ``200``/``202`` (``429``/``503`` retried after ``Retry-After``)."""
    deadline = time.monotonic() + wait_s + 300
    while True:
        r = await http.post("/v1/transactions", content=body, headers=headers)
        if r.status_code in (200, 202):
            doc: dict[str, Any] = r.json()
            return r.status_code, doc
        if r.status_code not in RETRYABLE or time.monotonic() > deadline:
            raise ApiError(f"ingest answered {r.status_code}: {r.text[:300]}")
        await asyncio.sleep(float(r.headers.get("retry-after", "1")))


def summary(
    latencies: list[float],
    statuses: Counter[int],
    outcomes: Counter[str],
    elapsed: float,
    wait_s: int,
    concurrency: int,
) -> WaitSummary:
    found: WaitSummary = {
        "transactions": len(latencies),
        "wait_s": wait_s,
        "concurrency": concurrency,
        "answered_per_s": round(len(latencies) / elapsed) if elapsed > 0 else 0,
        "decided_in_time": statuses[200],
        "not_decided_202": statuses[202],
        "outcomes": dict(outcomes.most_common()),
    }
    if len(latencies) >= 2:
        cuts = percentiles([s * 1000 for s in latencies])
        found["sync_latency_ms"] = {name: round(ms, 2) for name, ms in cuts.items()}
    return found


def render(found: WaitSummary) -> str:
    lines = [
        f"posted {found['transactions']} transactions one per request, Prefer: wait="
        f"{found['wait_s']}, {found['concurrency']} at a time",
        f"  answered  {found['answered_per_s']:>8} tx/s",
        f"  decided in time (200) {found['decided_in_time']:>8}   "
        f"not decided (202) {found['not_decided_202']:>8}",
    ]
    if "sync_latency_ms" in found:
        lat = found["sync_latency_ms"]
        lines.append(
            f"  latency post → outcome  p50 {lat['p50']:.1f} ms  p95 {lat['p95']:.1f} ms  "
            f"p99 {lat['p99']:.1f} ms  max {lat['max']:.1f} ms"
        )
    lines += [f"  {name:<34} {n:>8}" for name, n in found["outcomes"].items()]
    return "\n".join(lines)
