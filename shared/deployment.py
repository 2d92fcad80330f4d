"""The deployment record (``txflow:meta``) and the consumer groups.

Both services call ``ensure_deployment`` at start: the first one to run fixes
the shard count; every later one refuses to start when its own disagrees.
Creating what exists already is success (idempotent set-up).
"""

from __future__ import annotations

from redis import exceptions as rex

from shared import keys
from shared.errors import SchemaMismatch, ShardCountMismatch, StoreUnavailable
from shared.store import Client, refusing

SCHEMA_VERSION = 2
"""1: a hash per transaction; 2: one hash per account (``shared.records``)."""


async def ensure_deployment(client: Client, shards: int) -> None:
    """Create ``txflow:meta`` if absent, check it, create every shard's group.

    A Redis that takes no writes for now (out of memory, a replica) raises
    ``StoreUnavailable``, as an unreachable one does.
    """
    try:
        await _ensure(client, shards)
    except rex.ResponseError as e:
        if refusing(e):
            raise StoreUnavailable(f"Redis refuses writes: {e}") from None
        raise


async def _ensure(client: Client, shards: int) -> None:
    await client.hsetnx(keys.META, "shards", shards)
    await client.hsetnx(keys.META, "schema", SCHEMA_VERSION)
    await check_deployment(client, shards)
    async with client.pipeline(transaction=False) as pipe:
        for k in keys.shard_keys(shards):
            pipe.xgroup_create(k.inbox, keys.GROUP, id="0", mkstream=True)
        results = await pipe.execute(raise_on_error=False)
    for result in results:
        if isinstance(result, Exception) and not is_busygroup(result):
            raise result
    await _count_from_zero(client, shards)


async def _count_from_zero(client: Client, shards: int) -> None:
    """Start the count of committed entries at 0 on every stream that never took one.

    (A stream that did is seeded by its owner: ``services/worker/backlog.py``.)
    Nothing is committed before a count exists, so a 0 set here is never stale.
    """
    shard_keys = keys.shard_keys(shards)
    async with client.pipeline(transaction=False) as pipe:
        for k in shard_keys:
            pipe.xinfo_stream(k.inbox)
        infos = await pipe.execute(raise_on_error=False)
    async with client.pipeline(transaction=False) as pipe:
        for k, info in zip(shard_keys, infos, strict=True):
            if isinstance(info, dict) and info.get("entries-added") == 0:
                pipe.setnx(k.committed, 0)
        await pipe.execute()


async def check_deployment(client: Client, shards: int) -> None:
    """Raise ``ShardCountMismatch`` unless ``txflow:meta`` agrees with ``shards``, and
    ``SchemaMismatch`` unless its schema is this code's."""
    stored, schema = await client.hmget(keys.META, ["shards", "schema"])
    if stored is None:
        raise ShardCountMismatch("txflow:meta is missing: the deployment is not initialised")
    if int(stored) != shards:
        raise ShardCountMismatch(
            f"this deployment has {int(stored)} shards (txflow:meta) but TXFLOW_SHARDS={shards}; "
            f"set TXFLOW_SHARDS={int(stored)}"
        )
    check_schema(schema)


def check_schema(schema: str | bytes | None) -> None:
    """Raise ``SchemaMismatch`` unless ``schema`` (meta's field) is this code's."""
    found = SCHEMA_VERSION if schema is None else int(schema)  # (absent: meta being created)
    if found < SCHEMA_VERSION:
        raise SchemaMismatch(
            f"this deployment's data is schema {found}, this txflow needs {SCHEMA_VERSION}: "
            "stop every worker, then run `txflow migrate`"
        )
    if found > SCHEMA_VERSION:
        raise SchemaMismatch(
            f"this deployment's data is schema {found}, newer than this txflow's "
            f"{SCHEMA_VERSION}: run the txflow that wrote it"
        )


def is_busygroup(error: Exception) -> bool:
    return isinstance(error, rex.ResponseError) and "BUSYGROUP" in str(error)
