"""The Redis edge: opening clients and turning driver errors into ours.

``unavailable`` is the one rule of which driver errors mean "Redis is not
there right now" (or takes no writes for now): ``StoreUnavailable``, retried
later. ``translating`` (a store's methods: the worker's ``ShardStore``, ingest's
``Outboxes``) and ``translated`` (a block) apply it; what callers then catch is
ours. Any other error redis-py raises is a bug or data not as it should be,
and goes up as it is.

``connect`` (asyncio, the services) and ``connect_sync`` (the CLI, health
checks) are the only places that choose the client type: a plain client for
one Redis, redis-py's cluster client when ``TXFLOW_REDIS_CLUSTER`` is set, or
a client of the primary Sentinel names when ``TXFLOW_SENTINELS`` is set (its
connections ask the sentinels where the primary is whenever they connect, and
drop a primary turned replica: a failover is an outage, ridden out like a
restart).
Both types speak the same commands; every key of a shard carries its hash tag,
so every multi-key command and script of txflow stays in one slot.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, ParamSpec, TypeVar

import redis
import redis.asyncio as aioredis
from redis import exceptions as rex
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.connection import parse_url
from redis.crc import key_slot
from redis.sentinel import Sentinel as SyncSentinel
from redis.sentinel import SentinelConnectionPool

from shared import keys
from shared.errors import StoreUnavailable
from shared.outage import describe
from shared.settings import Settings

Client = aioredis.Redis | aioredis.RedisCluster
"""What the services hold: one Redis or a Redis Cluster."""

SyncClient = redis.Redis | redis.RedisCluster
"""What the CLI holds."""

# Errors that mean "Redis is not there right now": retry, never a 500.
# On a cluster: a node that serves no slot yet or is down (CLUSTERDOWN), a
# resharding in progress (TRYAGAIN), and the cluster client's own complaints
# while no node answers or the slots are not covered yet (RedisClusterException;
# its other uses are programming errors, e.g. keys of two slots in one command,
# which the tests in tests/cluster rule out).
DRIVER_UNAVAILABLE = (
    rex.ConnectionError,
    rex.TimeoutError,
    rex.BusyLoadingError,
    OSError,
    rex.ClusterDownError,
    rex.TryAgainError,
    rex.RedisClusterException,
)

UNAVAILABLE = (StoreUnavailable, *DRIVER_UNAVAILABLE)
"""Ours and the driver's: for the few callers that hold a client without an adapter."""


# Replies meaning "not now" from a Redis that is up: a replica after a failover
# (READONLY), out of memory (OOM), failing to persist (MISCONF), a replica whose
# primary is down (MASTERDOWN), too few replicas (NOREPLICAS); on a cluster, a
# node whose slot moved (MOVED, ASK: shared.nodes asks for the slots again).
# Retry later too.
_REFUSING = ("MISCONF", "MASTERDOWN", "NOREPLICAS")
_NOT_NOW = (rex.ReadOnlyError, rex.OutOfMemoryError, rex.TryAgainError, rex.AskError)


def refusing(error: BaseException) -> bool:
    """Whether Redis answered ``error`` because it takes no writes for now."""
    if isinstance(error, _NOT_NOW):  # (MovedError is an AskError)
        return True
    return isinstance(error, rex.ResponseError) and str(error).startswith(_REFUSING)


def unavailable(error: BaseException, *, public: bool = False) -> StoreUnavailable | None:
    """``error`` as ``StoreUnavailable`` when it means Redis is not there right now or
    takes no writes for now (``refusing``), else ``None``. Its text names the driver's
    error (and, unless ``public``, what it said: an address, for the logs)."""
    if isinstance(error, StoreUnavailable):
        return error
    if refusing(error):
        return StoreUnavailable(f"Redis refuses writes: {error}")
    if isinstance(error, DRIVER_UNAVAILABLE):
        return StoreUnavailable(unreachable(error) if public else describe(error))
    return None


P = ParamSpec("P")
R = TypeVar("R")


def translating(method: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """``method`` raising ``StoreUnavailable`` where redis-py raised an error that
    ``unavailable`` names (nothing is added to a call that succeeds)."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except Exception as e:
            ours = unavailable(e)
            if ours is None or ours is e:
                raise
            raise ours from e

    return call


def fail_fast() -> Retry:
    """One quick retry: enough to replace a pooled connection that died with a
    restarted Redis, short enough that a down Redis is noticed at once (our
    callers have their own backoff: the worker's loop, ingest's 503)."""
    return Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), retries=1)


class _Cluster(aioredis.RedisCluster):
    """redis-py's cluster client, told where the keys of an XREADGROUP are.

    For a command whose keys move (XREADGROUP among ours), redis-py asks a
    server on every call, with COMMAND GETKEYS to one fixed node: round trips on
    the worker's hot path, and every shard's reads fail while that one node is
    down. The keys of an XREADGROUP are the first half of what follows STREAMS.
    (Should redis-py rename the method, this override is unused: slower, not wrong.)
    """

    async def _determine_slot(self, command: str, *args: Any) -> int:
        if str(command).upper() != "XREADGROUP":
            return await super()._determine_slot(command, *args)
        # GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key... id...
        words = [(a.decode() if isinstance(a, bytes) else str(a)).upper() for a in args]
        rest = args[words.index("STREAMS", 3) + 1 :]
        slots = {self.keyslot(key) for key in rest[: len(rest) // 2]}
        if len(slots) != 1:
            raise rex.RedisClusterException(f"{command} - all keys must map to the same key slot")
        return slots.pop()


def connect(settings: Settings, **options: Any) -> Client:
    """A client for ``REDIS_URL``; nothing is sent until it is used.

    A socket timeout longer than the worker's blocking read turns a network
    that stalls without closing the connection into an error we retry,
    instead of a wait forever.

    The cluster client re-sends nothing (unless ``retry`` is given): its retry
    of a failed pipeline first closes every connection to every node, cutting
    commands other tasks have in flight, and a command it re-sends may run
    twice (an XAUTOCLAIM counting one more delivery, a commit answered 'gap').
    Our callers retry from what Redis holds.
    """
    defaults: dict[str, Any] = {
        # RESP2: redis-py 8 defaults to RESP3, whose stream replies parse slower
        # (measured here).
        "protocol": 2,
        "socket_connect_timeout": 2,
        "socket_timeout": settings.block_ms / 1000 + 10,
        "health_check_interval": 10,
    }
    if settings.redis_cluster:
        once = {"retry": Retry(NoBackoff(), 0)}
        return _Cluster.from_url(settings.redis_url, **{**defaults, **once, **options})
    single = {"retry_on_timeout": False, "retry": fail_fast()}
    if settings.sentinels:
        sentinel = Sentinel(settings.sentinel_addresses, sentinel_kwargs=_SENTINEL_OPTIONS)  # type: ignore[no-untyped-call]
        chosen = {**_from_url(settings), **defaults, **single, **options}
        client: aioredis.Redis = sentinel.master_for(settings.sentinel_service, **chosen)
        return client
    return aioredis.Redis.from_url(settings.redis_url, **{**defaults, **single, **options})


# How the sentinels themselves are asked: quickly, a dead one is skipped.
_SENTINEL_OPTIONS = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5, "protocol": 2}


def _from_url(settings: Settings) -> dict[str, Any]:
    """What ``REDIS_URL`` lends a Sentinel-managed client: all but where the server is."""
    options: dict[str, Any] = parse_url(settings.redis_url)  # type: ignore[no-untyped-call]
    for where in ("host", "port", "path", "connection_class"):
        options.pop(where, None)
    return options


def connect_sync(settings: Settings, **options: Any) -> SyncClient:
    """A blocking client for ``REDIS_URL``; a cluster client asks a node for the slots at once."""
    defaults: dict[str, Any] = {"socket_connect_timeout": 2}
    if settings.redis_cluster:
        return redis.RedisCluster.from_url(settings.redis_url, **{**defaults, **options})
    if settings.sentinels:
        sentinel = SyncSentinel(settings.sentinel_addresses, sentinel_kwargs=_SENTINEL_OPTIONS)  # type: ignore[no-untyped-call]
        chosen = {**_from_url(settings), **defaults, **options}
        client: redis.Redis = sentinel.master_for(settings.sentinel_service, **chosen)  # type: ignore[no-untyped-call]
        return client
    return redis.Redis.from_url(settings.redis_url, **{**defaults, **options})


def close_sync(client: SyncClient) -> None:
    """Close ``client`` and every connection it opened.

    The cluster client's ``close`` leaves sockets of its nodes' pools open
    (redis-py 8: a pipeline over several nodes); they are disconnected first.
    """
    if isinstance(client, redis.RedisCluster):
        client.disconnect_connection_pools()  # type: ignore[no-untyped-call]
    client.close()


def node_of(client: SyncClient, key: str) -> str:
    """``host:port`` of the server holding ``key``: its slot's primary on a cluster,
    the primary the sentinels name under Sentinel."""
    if isinstance(client, redis.RedisCluster):
        node = client.nodes_manager.get_node_from_slot(key_slot(key.encode()))
        return f"{node.host}:{node.port}"
    if isinstance(client.connection_pool, SentinelConnectionPool):  # the primary it names now
        host, port = client.connection_pool.get_master_address()  # type: ignore[no-untyped-call]
        return f"{host}:{port}"
    where = client.connection_pool.connection_kwargs
    return str(where.get("path") or f"{where.get('host')}:{where.get('port')}")


async def primary_of(client: aioredis.RedisCluster, key: bytes | str) -> ClusterNode:
    """The node serving ``key``'s slot now, by the cluster client's slot table."""
    await client.initialize()  # nothing to do unless redis-py asked for it
    return client.nodes_manager.get_node_from_slot(client.keyslot(key))


@asynccontextmanager
async def translated(
    deadline_s: float | None = None, *, public: bool = True
) -> AsyncIterator[None]:
    """Re-raise Redis connectivity errors as ``StoreUnavailable`` (``unavailable``; its text
    for anyone unless not ``public``); with ``deadline_s``, also the block's taking longer
    than that (a stalled Redis: connected, silent)."""
    try:
        if deadline_s is None:
            yield
        else:
            async with asyncio.timeout(deadline_s):
                yield
    except StoreUnavailable:
        raise
    except TimeoutError:  # the deadline (builtin; redis-py's own TimeoutError is below)
        raise StoreUnavailable(late(deadline_s)) from None
    except Exception as e:
        ours = unavailable(e, public=public)
        if ours is None:
            raise
        raise ours from None


def unreachable(error: BaseException) -> str:
    """What a call that could not reach Redis is answered: the kind of error, not
    its text (which names Redis' address; ``/readyz`` answers anyone)."""
    return f"Redis is unreachable: {type(error).__name__}"


def late(deadline_s: float | None) -> str:
    """What a call that outlived its deadline is answered."""
    return f"Redis did not answer within {(deadline_s or 0) * 1000:g} ms"


async def writable(client: Client) -> None:
    """Raise ``StoreUnavailable`` unless Redis takes writes right now.

    ``XADD`` with ``NOMKSTREAM`` to a key that never exists: Redis checks a
    write command against maxmemory (OOM), a read-only replica (READONLY), a
    failing disk (MISCONF) and too few replicas (NOREPLICAS) before running it,
    and otherwise it appends nothing (nil). A ``PING`` would pass all four.
    """
    try:
        await client.execute_command("XADD", keys.PROBE, "NOMKSTREAM", "*", "p", "1")
    except rex.ResponseError as e:
        if refusing(e):
            raise StoreUnavailable(f"Redis refuses writes: {e}") from None
        raise
