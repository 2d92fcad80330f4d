"""Commands packed in the Redis protocol (RESP) by us, sent on one pooled connection.

For the worker's hot commands (its XREADGROUP, the commit script) redis-py's
per-call wrapping costs more than everything else the client does; hiredis
packs them (byte for byte what redis-py sends) and they are written on a
pooled connection as they are. Everything else goes through redis-py as usual.
On a cluster, ``shared.nodes`` sends such commands to the node of their keys.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, cast

import hiredis
import redis.asyncio as aioredis
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeout

from shared.errors import StoreUnavailable
from shared.store import refusing


def pack(*args: str | bytes | int) -> bytes:
    """One command: an array of bulk strings (hiredis packs it, in C). Text is UTF-8."""
    packed: bytes = hiredis.pack_command(cast(Any, args))  # (its stub takes a 1-tuple)
    return packed


async def send(client: aioredis.Redis, packed: bytes, commands: int) -> list[Any]:
    """Send ``packed`` (``commands`` commands) on one connection; their replies in order.

    An error Redis answers for a command is its reply (a ``ResponseError``), not
    raised: the others may have succeeded. A broken connection raises, and the
    socket is closed: replies may be left unread, so it must serve no one again.

    The first reply is awaited as long as the connection's ``socket_timeout``;
    the others, sent with it, within one more such wait in all: redis-py's own
    deadline for each reply costs more than reading it, and a pipeline has
    thousands.
    """
    pool = client.connection_pool
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        return await exchange(connection, packed, commands)
    finally:
        await pool.release(connection)


async def exchange(connection: Any, packed: bytes, commands: int) -> list[Any]:
    """``send`` on ``connection`` (of any pool: a cluster node's too)."""
    try:
        await connection.send_packed_command(packed)
        replies = [await _reply(connection)]
        if commands > 1:
            try:
                async with asyncio.timeout(connection.socket_timeout):
                    replies += [await _reply(connection, math.inf) for _ in range(commands - 1)]
            except TimeoutError:
                raise RedisTimeout(f"Timeout reading from {connection!r}") from None
        return replies
    except BaseException:
        await connection.disconnect()
        raise


async def execute(client: aioredis.Redis, packed: bytes) -> Any:
    """Send one packed command; its reply, or the error Redis answered, raised.

    A Redis that takes no writes for now (``store.refusing``) raises
    ``StoreUnavailable``, as an unreachable one does: retry later.
    """
    (reply,) = await send(client, packed, 1)
    return outcome(reply)


def outcome(reply: Any) -> Any:
    """A reply of ``send``, or the error Redis answered, raised (as ``execute`` does)."""
    if isinstance(reply, ResponseError):
        if refusing(reply):
            raise StoreUnavailable(f"Redis refuses writes: {reply}")
        raise reply
    return reply


async def _reply(connection: Any, timeout: float | None = None) -> Any:
    """The next reply (``timeout``: redis-py's, ``math.inf`` for none of its own)."""
    try:
        return await connection.read_response(timeout=timeout)
    except ResponseError as e:
        return e
