"""A worker's memory stays bounded however many distinct accounts pass through."""

from __future__ import annotations

import os
import subprocess
import sys

import redis

from tests.worker.support import SHARDS, append, deposit, init, outcomes

# Runs a burst worker in this child and reports its own peak resident set.
BURST = (
    "import re, sys, uvloop\n"
    "from services.worker.__main__ import serve\n"
    "from shared.settings import Settings\n"
    "uvloop.run(serve(Settings(), 'w', True))\n"
    "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
    "print(int(hwm) // 1024)\n"
)


def drain_peak_mb(redis_url: str, accounts: int) -> int:
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    init(client)
    for start in range(0, accounts, 10_000):
        append(client, [deposit(f"a{n}", "1", 100) for n in range(start, start + 10_000)])
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "TXFLOW_SHARDS": str(SHARDS),
        "TXFLOW_CACHE_MAX_ACCOUNTS": "2000",
        "TXFLOW_BLOCK_MS": "50",
    }
    done = subprocess.run(
        [sys.executable, "-c", BURST],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert len(outcomes(client, SHARDS)) == accounts
    client.close()
    return int(done.stdout.strip().splitlines()[-1])


def test_six_times_more_accounts_do_not_grow_the_worker(redis_url: str) -> None:
    small = drain_peak_mb(redis_url, 10_000)
    large = drain_peak_mb(redis_url, 60_000)
    # Without the cache bound, 50,000 more cached accounts with their records
    # would add about 35 MB (measured: 58 → 121 MB for 10k → 100k accounts).
    assert large - small < 15, (small, large)
