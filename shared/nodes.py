"""On a Redis Cluster: packed commands sent on a connection of the node holding their keys.

A ``WAIT`` covers the writes of its own connection only, and redis-py's
cluster client picks a node's connection per command (or per pipeline, out of
our sight). So where ``TXFLOW_MIN_REPLICAS`` asks for one, txflow routes by
itself: ingest's appends are grouped by the node holding their key (the
slot table of redis-py's client, ``nodes_manager``), each node gets its
share and then the ``WAIT``, packed in one buffer on one of its connections;
a worker's commit (one shard: one slot, one node) sends ``EVALSHA`` and the
``WAIT`` the same way. Each node's reply to its ``WAIT`` judges its own
writes only.

Failover: when a node cannot be reached, or answers a redirection (``MOVED``,
``ASK``: its slots moved, e.g. to a promoted replica) or ``CLUSTERDOWN``, the
slot table is asked again of the cluster at once, and the caller answers
503 (a retry with the same ids is safe). redis-py does that for a command it
sends alone, but its cluster pipeline with ``raise_on_error=False`` leaves the
table as it was on a lost connection: ingest then sent a dead node's shards to
it for ever (503s long after its replica was promoted). Ingest uses this path
on a cluster whatever ``TXFLOW_MIN_REPLICAS`` says.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rex
from redis.asyncio.cluster import ClusterNode

from shared import resp
from shared.replicas import Replicas
from shared.store import UNAVAILABLE, primary_of

Command = tuple[bytes | str, bytes]
"""A command: the key it is routed by, and the command packed (``resp.pack``)."""

# Replies after which the slot table is stale: ask the cluster again.
_MOVED = (rex.MovedError, rex.AskError, rex.ClusterDownError)


async def refresh(client: aioredis.RedisCluster, failed: ClusterNode | None = None) -> None:
    """Ask the cluster for its slot table now (``failed``, if any, asked last).
    Unanswered: the table stays as it was, asked again at the next failure."""
    name = None if failed is None else failed.name
    with contextlib.suppress(*UNAVAILABLE):
        await client.nodes_manager.initialize(last_failed_node_name=name)


async def send(
    client: aioredis.RedisCluster, node: ClusterNode, packed: bytes, commands: int
) -> list[Any]:
    """``resp.send`` on a connection of ``node``: a reply (or the error answered) per command.
    A node out of reach raises, a redirection is a reply; both refresh the slot table."""
    connection = node.acquire_connection()
    try:
        await node.disconnect_if_needed(connection)
        replies = await resp.exchange(connection, packed, commands)
    except UNAVAILABLE:
        await refresh(client, node)
        raise
    finally:
        node.release(connection)
    if any(isinstance(r, _MOVED) for r in replies):
        await refresh(client)
    return replies


async def script_load(node: ClusterNode, source: str) -> str:
    """Load a script on ``node`` (a promoted replica has none in its cache); its sha."""
    return str(await node.execute_command("SCRIPT", "LOAD", source))


async def pipeline(
    client: aioredis.RedisCluster, commands: Sequence[Command], durable: Replicas | None
) -> list[Any]:
    """Every command on the node of its key, in order per node (nodes in parallel),
    each node's share followed by ``durable``'s ``WAIT``; a reply or error per command.

    A node's error (out of reach, or too few of its replicas acknowledging)
    is the reply of each of its commands; the other nodes' replies stand.
    """
    shares: dict[str, tuple[ClusterNode, list[int]]] = {}
    of_key: dict[bytes | str, ClusterNode] = {}  # a pipeline names a few shards' keys
    for i, (key, _) in enumerate(commands):
        node = of_key.get(key)
        if node is None:
            node = of_key[key] = await primary_of(client, key)
        shares.setdefault(node.name, (node, []))[1].append(i)
    replies: list[Any] = [None] * len(commands)

    async def share(node: ClusterNode, indexes: list[int]) -> None:
        packed = b"".join(commands[i][1] for i in indexes)
        try:
            packed += durable.command if durable else b""
            got = await send(client, node, packed, len(indexes) + bool(durable))
            if durable:
                durable.check(got.pop())
        except UNAVAILABLE as e:  # ReplicasUnavailable among them
            got = [e] * len(indexes)
        for i, reply in zip(indexes, got, strict=True):
            replies[i] = reply

    await asyncio.gather(*(share(node, indexes) for node, indexes in shares.values()))
    return replies
