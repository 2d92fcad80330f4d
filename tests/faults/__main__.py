"""Soak mode: ``python -m tests.faults --minutes 30 --seed S [--poison N] [--replicated]``.

Runs ingest and workers on a Redis with AOF ``always`` under continuous load,
injects every kind of fault on a random schedule drawn from the seed (a
failing seed replays the same schedule), then verifies everything the
checker verifies and prints the figures for RELIABILITY.md.

Poison too: the workers run under the test hook ``tests.poison``, and 1 in
``--poison`` transactions raises in their decision path until the medic
(``tests.faults.medic``) fixes it and retries its parked account, as an
operator would. ``--poison 0``: none.

``--replicated``: a primary, a replica and three sentinels instead
(``tests.faults.replicated``), ``TXFLOW_MIN_REPLICAS=1``; the faults include
kill -9 of the primary (a failover) instead of a restart of the one Redis, and
no network stall (a worker finds its Redis through the sentinels, not a proxy).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import shutil
import sys
import tempfile
import threading
import time
from contextlib import suppress
from pathlib import Path

import httpx
import redis

from services.cli import workload
from services.cli.redis_process import RedisProcess
from services.cli.status import snapshot
from shared.model import Outcome
from shared.sharding import shard_of
from tests import poison
from tests.faults.checker import (
    UNDECIDED,
    History,
    LeaseSampler,
    decided,
    outcomes,
    post_batch,
    verify,
)
from tests.faults.medic import Medic
from tests.faults.replicated import Replicated
from tests.faults.scenarios import KINDS, Fault, Faults
from tests.polling import wait_for
from tests.stack import Stack


class Stream(threading.Thread):
    """Posts an endless workload in batches until stopped."""

    def __init__(self, api: str, seed: int, accounts: int = 500, chunk: int = 50) -> None:
        super().__init__(daemon=True)
        self.api, self.chunk = api, chunk
        self.txs = workload.generate(accounts, seed, prefix=f"soak{seed}")
        self.history = History()
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.api, timeout=10) as http:
                while not self.done.is_set():
                    batch = list(itertools.islice(self.txs, self.chunk))
                    post_batch(http, batch, self.history, time.monotonic() + 300)
        except BaseException as e:
            self.error = e


def undecided(client: redis.Redis, stack: Stack, history: History, medic: Medic) -> str:
    """What is still undecided, and the state around it: for a failed soak's report."""
    seen = {
        (d["a"], d["t"])
        for rows in outcomes(client, stack.shards).values()
        for d in rows
        if d["o"] not in UNDECIDED
    }
    missing = [t for t in history.accepted if (t.account_id, t.tx_id) not in seen]
    by_shard: dict[int, int] = {}
    for t in missing:
        shard = shard_of(t.account_id, stack.shards)
        by_shard[shard] = by_shard.get(shard, 0) + 1
    exits = {name: proc.poll() for name, proc in stack.procs.items()}
    lines = [
        f"undecided: {len(missing)} of {len(history.accepted)} by shard {by_shard}",
        f"first: {[(t.account_id, t.tx_id) for t in missing[:5]]}",
        f"medic: results {medic.results}, parkings {len(medic.parkings)}",
        f"processes (exit status, None: running): {exits}",
    ]
    with suppress(Exception):
        snap = snapshot(redis.Redis.from_url(stack.redis_url, decode_responses=True))
        lines += [str(row) for row in snap["shards"]] + [str(snap["workers"])]
    lines.append(f"logs: {stack.logs}")
    return "\n".join(lines)


def soak(
    minutes: float, seed: int, workdir: Path, poison_rate: int, replicated: bool = False
) -> dict[str, object]:
    rng = random.Random(seed)
    kinds: dict[str, Fault] = dict(KINDS)
    ha: Replicated | None = None
    if replicated:
        ha = Replicated(workdir)
        server, url, settings = ha.primary, ha.url, ha.settings
        del kinds["redis"], kinds["stall"]
        kinds["primary"] = lambda faults, _: ha.kill_primary(faults)
    else:
        server = RedisProcess(workdir / "redis", persistence="always").start()
        url, settings = server.url, {}
    hook = workdir / "poison"
    poison.write(hook, "rate", [str(poison_rate)])
    # Every outcome stays in :out (the checker reads them all): a soak outruns the
    # default cap within minutes.
    stack = Stack(
        url, workdir / "logs", poison=hook, settings={"TXFLOW_OUT_MAXLEN": "100000000", **settings}
    )
    medic = Medic(url, hook)
    try:
        stack.start_ingest()
        faults = Faults(stack, server)
        for _ in range(2):
            faults.start_worker()
        faults.wait_all_owned()
        sampler = LeaseSampler(url, stack.shards)
        sampler.start()
        medic.start()
        load = Stream(stack.api, seed)
        load.start()
        end = time.monotonic() + minutes * 60
        schedule = []
        while time.monotonic() < end and load.error is None:
            kind = rng.choice(sorted(kinds))
            gap = rng.uniform(0.5, 3.0)  # the schedule itself, not a synchronisation
            schedule.append((kind, round(gap, 2)))
            time.sleep(gap)
            print(f"[{time.strftime('%H:%M:%S')}] fault: {kind}", file=sys.stderr, flush=True)
            faults.replace_exited()
            kinds[kind](faults, rng)
        load.done.set()
        load.join(120)
        if load.error is not None:
            raise load.error
        client = redis.Redis.from_url(url)
        try:
            wait_for(
                lambda: decided(client, stack.shards) >= len(load.history.accepted),
                300,
                "every accepted transaction decided",
            )
        except AssertionError:
            print(undecided(client, stack, load.history, medic), file=sys.stderr)
            raise
        sampler.stop()
        medic.stop()
        report = verify(client, stack.shards, load.history, sampler=sampler)
        ids = {(t.account_id, t.tx_id): t for t in load.history.accepted}
        poisoned = sum(1 for t in ids.values() if poison_rate and poison.rated(t, poison_rate))
        parked = sum(
            1
            for rows in outcomes(client, stack.shards).values()
            for d in rows
            if d["o"] == Outcome.PARKED
        )
        return {
            "seed": seed,
            "minutes": minutes,
            "deployment": "primary, replica, 3 sentinels" if ha else "one Redis, AOF always",
            "accepted": report.accepted,
            "client_retries": load.history.retries,
            "duplicates_from_client_retries": report.duplicates_from_retries,
            "faults": faults.injected,
            "lost": 0,
            "doubled": 0,
            "order_violations": 0,
            "lease_samples": report.lease_samples,
            "poison_rate": f"1 in {poison_rate}" if poison_rate else "none",
            "transactions_poisoned": poisoned,
            "entries_parked": parked,
            "accounts_parked": len(medic.parkings),
            "causes_fixed": len(medic.healed),
            "retries": medic.results,
        }
    finally:
        medic.stop()
        stack.stop_all()
        if ha is not None:
            ha.stop()
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument(
        "--poison",
        type=int,
        default=20_000,
        metavar="N",
        help="1 in N transactions raises until fixed (default 20000; 0: none)",
    )
    parser.add_argument(
        "--replicated",
        action="store_true",
        help="a primary, a replica and 3 sentinels; primary kills",
    )
    args = parser.parse_args()
    print(f"soak: seed {args.seed}, {args.minutes} min", file=sys.stderr)
    tmp = tempfile.mkdtemp(prefix="txflow-soak-")
    try:
        result = soak(args.minutes, args.seed, Path(tmp), args.poison, args.replicated)
    except AssertionError as e:
        print(
            f"soak FAILED with seed {args.seed}: {e}; its logs are kept in {tmp}", file=sys.stderr
        )
        return 1
    shutil.rmtree(tmp)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
