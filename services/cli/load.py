"""``txflow load``: post a generated workload through the API and summarise it."""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, NotRequired, TypedDict

from services.cli import workload
from services.cli.poster import Poster, api_client
from shared import keys
from shared.outcomes import unpack
from shared.store import UNAVAILABLE, SyncClient


class Summary(TypedDict):
    """What ``txflow load`` measured; latency and outcomes when Redis could be read."""

    transactions: int
    accepted_per_s: int
    applied_per_s: int
    latency_ms: NotRequired[dict[str, float]]
    outcomes: NotRequired[dict[str, int]]


def load(
    api: str,
    token: str | None,
    accounts: int,
    count: int,
    rate: float,
    batch: int,
    seed: int,
    client: SyncClient | None,
) -> Summary:
    """Post ``count`` transactions (at ``rate`` tx/s, 0 = as fast as possible)."""
    start_ms = int(time.time() * 1000)
    started = time.monotonic()
    txs = itertools.islice(workload.generate(accounts, seed, prefix=f"load{seed}"), count)
    with api_client(api, token) as http:
        poster = Poster(http, batch=batch)
        with progress(count) as advance:
            for n, tx in enumerate(txs, 1):
                poster.add(tx)
                if n % batch == 0:
                    advance(batch)
                    pace(started, n, rate)
            poster.flush()
        posted = time.monotonic() - started
        poster.wait_applied()
    applied = time.monotonic() - started
    summary: Summary = {
        "transactions": count,
        "accepted_per_s": round(count / posted),
        "applied_per_s": round(count / applied),
    }
    if client is not None:
        try:
            found = outcomes(client, start_ms)
            if found is not None:
                summary["latency_ms"], summary["outcomes"] = found
        except UNAVAILABLE as e:
            print(
                f"txflow load: cannot read Redis ({e}): latency and outcomes are left out",
                file=sys.stderr,
            )
    return summary


def pace(started: float, sent: int, rate: float) -> None:
    if rate > 0:
        ahead = sent / rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)


class progress:
    """A progress bar on a terminal, nothing otherwise."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Any = None

    def __enter__(self) -> Any:
        if not sys.stderr.isatty():
            return lambda n: None
        from rich.progress import Progress

        self.bar = Progress(transient=True)
        self.bar.start()
        task = self.bar.add_task("posting", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *_: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def outcomes(client: SyncClient, since_ms: int) -> tuple[dict[str, float], dict[str, int]] | None:
    """Latency accepted → applied (percentiles) and outcomes counted, from the ``:out``
    streams; ``None`` with fewer than two."""
    latencies: list[int] = []
    counted: Counter[str] = Counter()
    for k in keys.shard_keys(int(client.hget(keys.META, "shards") or 0)):
        rows: Any = client.xrange(k.outbox, min=f"{since_ms}-0")
        for out_id, fields in rows:
            committed_ms = int(str(out_id).split("-")[0])
            for doc in unpack(fields):
                if doc.get("at", 0) < since_ms:
                    continue
                latencies.append(committed_ms - doc["at"])
                counted[doc["o"] if doc["o"] != "rejected" else f"rejected: {doc.get('r')}"] += 1
    if len(latencies) < 2:
        return None
    return percentiles(latencies), dict(counted.most_common())


def render(summary: Summary) -> str:
    lines = [
        f"posted {summary['transactions']} transactions",
        f"  accepted  {summary['accepted_per_s']:>8} tx/s",
        f"  applied   {summary['applied_per_s']:>8} tx/s",
    ]
    if "latency_ms" in summary:
        lat = summary["latency_ms"]
        lines.append(
            f"  latency accepted → applied  p50 {lat['p50']:.0f} ms  "
            f"p95 {lat['p95']:.0f} ms  p99 {lat['p99']:.0f} ms"
        )
        lines += [f"  {name:<34} {n:>8}" for name, n in summary["outcomes"].items()]
    return "\n".join(lines)


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50, p95, p99 and max of at least two ``values``."""
    cuts = statistics.quantiles(values, n=100)
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "max": max(values)}
