"""Waiting for replicas: a write counts once ``TXFLOW_MIN_REPLICAS`` replicas have it.

Redis replicates asynchronously: a primary that dies before its replicas got a
write loses it in a failover. With ``TXFLOW_MIN_REPLICAS`` = n > 0, ingest
answers ``202`` and a worker goes on from a commit only after ``WAIT n
timeout`` — sent on the same connection, right after the writes, so it covers
them — reports n replicas acknowledged them (``WAITAOF 1 n timeout`` with
``TXFLOW_WAIT_AOF=1``: also written to the AOF, here and on n replicas).
Fewer within ``TXFLOW_REPLICA_TIMEOUT_MS``: ``StoreUnavailable`` — the writes
stand on the primary, the caller treats it as an outage (503; the worker backs
off and syncs from ``ckpt``).

On a Redis Cluster a ``WAIT`` covers the writes of its connection, on its
node, only. Ingest's pipeline is split by node (``shared.nodes``): each node
gets its share of the appends and then the ``WAIT`` on the same connection,
and its reply judges that share (a request with an entry on a node whose
replicas fell short: 503). A worker's commit is one shard, one slot, one
node: ``EVALSHA`` and ``WAIT`` go to that node together; ``caught_up`` asks
that node. (An offset gate — read the node's ``master_repl_offset`` after the
write, then poll ``INFO replication`` until the replicas report it — needs no
shared connection, but replicas report their offset about once a second unless
a ``WAIT`` asks: a second per commit.)

``WAIT`` is not consensus: it narrows, not closes, the window in which a
failover loses acknowledged writes (see RELIABILITY.md).
"""

from __future__ import annotations

from typing import Any

from redis import exceptions as rex
from redis.asyncio import RedisCluster

from shared import resp
from shared.errors import StoreUnavailable
from shared.settings import Settings
from shared.store import Client, primary_of


class ReplicasUnavailable(StoreUnavailable):
    """Too few replicas acknowledged a write in time: it stands on the primary only."""


class Replicas:
    """The ``WAIT``/``WAITAOF`` to append after writes, and the check of its reply."""

    def __init__(self, settings: Settings) -> None:
        self.needed = settings.min_replicas
        self.timeout_ms = settings.replica_timeout_ms
        self.aof = settings.wait_aof
        if not self.needed:
            self.command = b""
        elif self.aof:
            self.command = resp.pack("WAITAOF", 1, self.needed, self.timeout_ms)
        else:
            self.command = resp.pack("WAIT", self.needed, self.timeout_ms)
        """Packed, to send after the writes on their connection; empty when not needed."""

    def __bool__(self) -> bool:
        return self.needed > 0

    def check(self, reply: Any) -> None:
        """Raise ``ReplicasUnavailable`` unless ``reply`` (of ``command``) counts enough."""
        if isinstance(reply, BaseException):
            raise ReplicasUnavailable(f"waiting for replicas failed: {reply}")
        acked = int(reply[1]) if self.aof else int(reply)
        if acked < self.needed:
            raise ReplicasUnavailable(
                f"{acked} of TXFLOW_MIN_REPLICAS={self.needed} replicas acknowledged "
                f"within {self.timeout_ms} ms"
            )

    async def caught_up(self, client: Client, target: int | None, key: str) -> int | None:
        """``None`` once ``needed`` replicas of the primary of ``key`` have replicated
        up to offset ``target`` (``None``: the primary's offset now); else the target,
        to ask again with.

        After a ``WAIT`` fell short, a worker asks this (a read) before it writes
        again: it commits no more batches the replicas do not have.
        """
        if isinstance(client, RedisCluster):
            info = await client.info("replication", target_nodes=await primary_of(client, key))
        else:
            info = await client.info("replication")
        if target is None:
            target = int(info.get("master_repl_offset", 0))
        replicas = (v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict))
        reached = sum(1 for r in replicas if r.get("state") == "online" and r["offset"] >= target)
        return None if reached >= self.needed else target


async def problem(settings: Settings, client: Client) -> str | None:
    """Why the server cannot do what the settings ask (one line), or ``None``.

    ``WAITAOF`` is feature-detected by asking it for nothing (``WAITAOF 1 0 0``:
    Redis 7.2+, Valkey 8; it needs ``appendonly yes`` on the primary), never assumed.
    """
    if not settings.wait_aof:
        return None
    try:  # satisfied at once where it exists: nothing written on this connection yet
        await client.execute_command("WAITAOF", 1, 0, 0)
    except rex.ResponseError as e:
        if "unknown command" in str(e).lower():
            return "TXFLOW_WAIT_AOF=1 but this server has no WAITAOF (Redis 7.2+ or Valkey 8)"
        return f"TXFLOW_WAIT_AOF=1 but the server refuses WAITAOF: {e}"
    return None
