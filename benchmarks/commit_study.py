"""What the commit would cost Redis without Lua: the same commits, replayed two ways.

``python benchmarks/commit_study.py [--transactions N] [--accounts N] [--rounds N]``

A burst worker runs in this process over the workload and every commit's KEYS
and ARGV are recorded. The streams as filled were DUMPed first, so each replay
RESTOREs the same entries (the same ids) and replays every commit in the
recorded order, each after an XREADGROUP of as many entries:

- ``bare``: XACK of them (the worker part's bare loop);
- ``lua``: ``lua/commit.lua`` with the recorded arguments (what txflow does);
- ``multi``: the same writes without a script. ``WATCH`` lease, epoch and ckpt;
  read them and the entry after ckpt (the contiguity check); then ``MULTI``,
  an HSET per account, the :out XADD, SET ckpt, XACK, INCRBY, XTRIM, ``EXEC``;
- ``lua/128``, ``multi/128``: the same with ``hash-max-listpack-entries 128``
  instead of Redis's 512 (an account's hash becomes a hashtable sooner).

Redis's CPU is its process's, per transaction; the variants take turns, each
round. Not part of ``run.py``: a study behind RESULTS.md's "Choices measured".
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import orjson
import redis

if __package__ in (None, ""):  # run as ``python benchmarks/commit_study.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.rig import ROOT, SHARDS, redis_rig, transactions
from services.worker import __main__ as worker_main
from services.worker.batch import Plan
from services.worker.shard_store import ShardStore
from shared.keys import GROUP
from shared.settings import Settings

Commit = tuple[list[str], list[Any]]  # KEYS, ARGV as sent
SCRIPT = (ROOT / "services/worker/lua/commit.lua").read_text()
SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()


def record(url: str) -> list[Commit]:
    """Drain every shard with a burst worker in this process; the commits it sent."""
    commits: list[Commit] = []
    original = ShardStore.commit

    async def recording(self: ShardStore, plan: Plan, keys: list[str], args: list[Any]) -> None:
        commits.append((list(keys), [a if isinstance(a, bytes) else str(a) for a in args]))
        await original(self, plan, keys, args)

    ShardStore.commit = recording  # type: ignore[method-assign]
    try:
        settings = Settings(redis_url=url, shards=SHARDS, block_ms=100)
        asyncio.run(worker_main.serve(settings, "study", burst=True))
    finally:
        ShardStore.commit = original  # type: ignore[method-assign]
    return commits


def read(client: redis.Redis, keys: list[str], args: list[Any]) -> None:
    """What the worker read before this commit: as many entries as it acknowledges."""
    client.execute_command(
        "XREADGROUP", "GROUP", GROUP, args[0], "COUNT", args[7], "STREAMS", keys[3], ">"
    )


def bare(client: redis.Redis, keys: list[str], args: list[Any]) -> None:
    client.execute_command("XACK", keys[3], GROUP, *args[13:])


def lua(client: redis.Redis, keys: list[str], args: list[Any]) -> None:
    reply = client.evalsha(SHA, len(keys), *keys, *args)
    assert reply[0] == b"ok", reply


def multi(client: redis.Redis, keys: list[str], args: list[Any]) -> None:
    lease, epoch, ckpt, inbox, outbox, dlq, committed = keys[:7]
    with client.pipeline(transaction=True) as pipe:
        pipe.watch(lease, epoch, ckpt)  # commands run at once until multi()
        holder, token, last = pipe.mget(lease, epoch, ckpt)
        counted = pipe.exists(committed)
        following = pipe.xrange(inbox, b"(" + last if last else "-", "+", count=1)
        assert (holder.decode(), token.decode()) == (args[0], args[1]), "fenced"
        assert following and following[0][0].decode() == args[3], "gap"
        pipe.multi()
        for h, fields in enumerate(orjson.loads(args[8])):
            pipe.execute_command("HSET", keys[8 + h], *fields)
        if args[9]:
            pipe.execute_command(
                "XADD", outbox, "MAXLEN", "~", args[5], "*", "ep", args[1], "d", args[9]
            )
        for payload in filter(None, args[10].split(b"\n")):
            pipe.execute_command("XADD", dlq, "*", "d", payload)
        pipe.execute_command("SET", ckpt, args[4])
        pipe.execute_command("XACK", inbox, GROUP, *args[13:])
        if counted:
            pipe.execute_command("INCRBY", committed, args[7])
        if args[6]:
            pipe.execute_command("XTRIM", inbox, "MINID", "~", args[6])
        pipe.execute()


def accounts(client: redis.Redis) -> str:
    """A digest of every account hash: the variants must write the same."""
    names = sorted(client.scan_iter(match="txflow:*:acct:*", count=1000))
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.hgetall(name)
    hashes = [sorted(h.items()) for h in pipe.execute()]
    return hashlib.sha1(repr(list(zip(names, hashes, strict=True))).encode()).hexdigest()


VARIANTS = {"bare": (bare, 512), "lua": (lua, 512), "lua/128": (lua, 128)}
VARIANTS |= {"multi": (multi, 512), "multi/128": (multi, 128)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transactions", type=int, default=200_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    os.environ.pop("REDIS_URL", None)
    with redis_rig(Path("/tmp/txflow-commit-study")) as rig:
        rig.reset()
        rig.fill(transactions(opts.accounts, opts.transactions))
        client = rig.client
        filled = {key: client.dump(key) for key in client.scan_iter(count=1000)}
        commits = record(rig.server.url)
        assert all(args[11] == "" for _, args in commits), "parking in the workload"
        total = sum(int(args[7]) for _, args in commits)
        cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
        memory: dict[str, int] = {}
        written: set[str] = set()
        for _ in range(opts.rounds):
            for name, (commit, listpack) in VARIANTS.items():
                client.flushall()
                for key, value in filled.items():
                    client.restore(key, 0, value)
                leases = {keys[i]: args[i] for keys, args in commits for i in (0, 1)}
                client.mset(leases)  # the lease and epoch each commit names
                client.script_load(SCRIPT)
                client.config_set("hash-max-listpack-entries", listpack)
                before = rig.redis_cpu()
                for keys, args in commits:
                    read(client, keys, args)
                    commit(client, keys, args)
                cpu[name].append((rig.redis_cpu() - before) / total * 1e6)
                memory[name] = int(client.info("memory")["used_memory"])
                if name != "bare":
                    written.add(accounts(client))
        assert len(written) == 1, "the variants wrote different account hashes"
        base = statistics.median(cpu["bare"])
        print(f"{total:,} transactions, {opts.accounts:,} accounts, {len(commits)} commits")
        print("variant    Redis CPU µs/tx (rounds)          / bare   memory per tx beyond bare")
        for name, values in cpu.items():
            rounds = ", ".join(f"{v:.2f}" for v in values)
            median = statistics.median(values)
            stored = (memory[name] - memory["bare"]) / total
            print(f"{name:10} {median:5.2f} ({rounds:24}) {median / base:5.2f}x  {stored:4.0f} B")


if __name__ == "__main__":
    main()
