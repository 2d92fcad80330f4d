"""The raw pipeline: the end-to-end benchmark's baseline (DESIGN §7), as a child process.

``python -m benchmarks.pipeline --url URL --entries N --seed S``

In one asyncio process, a producer task appends the workload's entries (the
same ``Tx.encode()`` payloads the ingest writes, same seed as the txflow run)
in pipelines of ``CHUNK`` XADDs, while one consumer task per shard reads its
stream with XREADGROUP COUNT 500 and acknowledges with XACK. No validation, no
state, no outcome: what Redis Streams cost when nothing else is done. Prints
JSON: entries, seconds from the first XADD to the last XACK, seconds of the
producer alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter

import redis.asyncio as aioredis

from benchmarks.worker import BARE_COUNT, SHARDS, Row, Workload, ack_next, rows_of
from shared import keys

CHUNK = 1_000  # the ingest's largest batch (TXFLOW_MAX_BATCH)
BLOCK_MS = 100


def stamped_rows(entries: int, seed: int) -> list[Row]:
    """The workload's first ``entries`` transactions, stamped as accepted now."""
    now_ms = time.time_ns() // 1_000_000
    return rows_of([tx._replace(accepted_at=now_ms) for tx in Workload(seed=seed).take(entries)])


async def produce(client: aioredis.Redis, rows: list[Row]) -> float:
    """Append ``rows`` in order, one pipeline per chunk; the time it took."""
    start = time.perf_counter()
    for first in range(0, len(rows), CHUNK):
        async with client.pipeline(transaction=False) as pipe:
            for inbox, data in rows[first : first + CHUNK]:
                pipe.xadd(inbox, {"d": data})
            await pipe.execute()
    return time.perf_counter() - start


async def consume(client: aioredis.Redis, inbox: str, expected: int) -> None:
    """Read and acknowledge ``inbox`` until ``expected`` entries went through."""
    done = 0
    while done < expected:
        done += await ack_next(client, inbox, BARE_COUNT, BLOCK_MS)


async def pipeline(url: str, rows: list[Row]) -> dict[str, float]:
    expected = Counter(inbox for inbox, _ in rows)
    inboxes = [k.inbox for k in keys.shard_keys(SHARDS)]
    async with aioredis.Redis.from_url(url, decode_responses=True) as client:  # as the worker
        await client.ping()
        start = time.perf_counter()
        producer = asyncio.create_task(produce(client, rows))
        await asyncio.gather(*(consume(client, inbox, expected[inbox]) for inbox in inboxes))
        produced = await producer
        return {
            "entries": len(rows),
            "seconds": time.perf_counter() - start,
            "produce_s": produced,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--entries", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args(argv)
    import uvloop

    rows = stamped_rows(args.entries, args.seed)
    print(json.dumps(uvloop.run(pipeline(args.url, rows))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
