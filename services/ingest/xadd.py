"""How one pipeline of appends reaches Redis: the XADDs of ``Appender``'s round trips.

On one Redis the pipeline is packed here (``pack``: the RESP bytes of every
XADD in one buffer) and written on a connection of the client's pool in one
go, then its replies are read in order (``shared.resp.send``). This is
redis-py's pipeline minus its per-command bookkeeping, which cost more than
half of the service's CPU per transaction on the batch path. On a Redis
Cluster the appends of one pipeline go to several nodes: there redis-py's
cluster pipeline sends them, and keeps a node's errors its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis import exceptions as rex

from shared import resp
from shared.replicas import Replicas
from shared.store import UNAVAILABLE, Client

Append = tuple[bytes, bytes]
"""One append: the ``:in`` key of its shard and the encoded ``Tx`` (field ``d``)."""


def pack(appends: Sequence[Append]) -> bytes:
    """``XADD <key> * d <data>`` for each append, in the Redis protocol (RESP), in order."""
    parts: list[bytes] = []
    add = parts.append
    for key, data in appends:
        add(b"*5\r\n$4\r\nXADD\r\n$%d\r\n%b\r\n$1\r\n*\r\n$1\r\nd\r\n$%d\r\n%b\r\n"
            % (len(key), key, len(data), data))  # fmt: skip
    return b"".join(parts)


class Sender:
    """Sends pipelines of XADDs (and, with replicas, their ``WAIT``) to ``client``."""

    def __init__(self, client: Client, deadline_s: float, replicas: Replicas | None) -> None:
        self._client = client
        self._deadline_s = deadline_s
        self._replicas = replicas
        self._cluster = isinstance(client, aioredis.RedisCluster)

    async def send(self, appends: list[Append]) -> list[object]:
        """Append ``appends`` within the deadline: one reply or error each, then the
        ``WAIT``'s reply with replicas. A lost connection is tried once more (a
        pooled one may have died with a restarted Redis), a timeout is not."""
        packed = None
        if not self._cluster:
            packed = pack(appends) + (self._replicas.command if self._replicas else b"")
        async with asyncio.timeout(self._deadline_s):
            try:
                return await self._send_once(appends, packed)
            except UNAVAILABLE as e:
                if isinstance(e, rex.TimeoutError | TimeoutError):
                    raise
                return await self._send_once(appends, packed)

    async def _send_once(self, appends: list[Append], packed: bytes | None) -> list[object]:
        if packed is None:
            return await self._send_to_nodes(appends)
        assert isinstance(self._client, aioredis.Redis)
        return await resp.send(self._client, packed, len(appends) + bool(self._replicas))

    async def _send_to_nodes(self, appends: list[Append]) -> list[object]:
        """On a cluster: redis-py's pipeline, which sends each node its appends (in
        order: a shard's stream lives on one node) and keeps a node's errors its own."""
        pipe = self._client.pipeline(transaction=False)
        for key, data in appends:
            pipe.execute_command("XADD", key, "*", "d", data)
        return await pipe.execute(raise_on_error=False)
