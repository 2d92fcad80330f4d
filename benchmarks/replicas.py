"""Part ``replicas``: what ``TXFLOW_MIN_REPLICAS=1`` costs — the end-to-end peak (``e2e``'s
flat-out run, 1 ingest + 2 workers) with a replica on the same machine, at 0 then 1,
on the same transactions from an empty deployment each time."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from benchmarks import e2e
from benchmarks.rig import redis_rig, transactions, wait_until
from services.cli.redis_process import RedisProcess


def part(quick: bool, tmp: Path) -> dict[str, Any]:
    entries, _, env = e2e.SIZES[quick]
    txs = list(itertools.islice(transactions(e2e.ACCOUNTS, entries, seed=e2e.SEED), entries))
    with redis_rig(tmp) as rig:
        rig.client.config_set("repl-diskless-sync-delay", 0)
        follow = ["--replicaof", "127.0.0.1", str(rig.server.port)]
        replica = RedisProcess(tmp / "replica", extra=follow).start()
        try:
            synced = lambda: rig.client.incr("sync") and rig.client.wait(1, 100) >= 1  # noqa: E731
            wait_until(synced, 60, "the replica in sync")
            runs = {}
            for n in (0, 1):
                rig.reset()
                with e2e.stack(rig, env | {"TXFLOW_MIN_REPLICAS": str(n)}, tmp / f"{n}") as local:
                    runs[n] = e2e.offer(rig, local.api, txs, None)
        finally:
            replica.stop()
    ratio = runs[1]["applied_tx_s"] / runs[0]["applied_tx_s"]
    return {"min_replicas_0": runs[0], "min_replicas_1": runs[1], "ratio": ratio, "stack_env": env}
