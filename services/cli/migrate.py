"""``txflow migrate``: convert a deployment's data to this code's schema, in place.

Schema 1 kept a hash per transaction (``<tag>:tx:<account>:<tx_id>``) and the
account's state as fields ``available``, ``held``, ``locked``, ``last_tx``;
schema 2 (``shared.records``) keeps everything of an account in its hash. Each
chunk of a shard is converted in one MULTI (a shard's keys share a slot), so a
key is either old or new whatever interrupts the run; a run converts what it
finds old, and sets the schema only once nothing old is left: safe to run
again, and to resume.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from shared import keys, records
from shared.deployment import SCHEMA_VERSION, check_schema
from shared.errors import ConfigError, SchemaMismatch, ShardCountMismatch
from shared.keys import ShardKeys
from shared.store import SyncClient

OLD_STATE = ("available", "held", "locked", "last_tx")
CHUNK = 500  # keys read, then converted in one MULTI


@dataclass
class Summary:
    accounts: int = 0  # account states converted
    records: int = 0  # transaction hashes folded into their account's hash
    unreadable: int = 0  # keys left as they are: not the hash schema 1 wrote
    done: bool = False  # nothing old left: the schema is now SCHEMA_VERSION

    def describe(self) -> str:
        found = f"{self.accounts} accounts and {self.records} transaction records converted"
        if self.unreadable:
            found += f", {self.unreadable} unreadable keys left as they are"
        if self.done:
            return f"{found}; the deployment is schema {SCHEMA_VERSION}"
        return f"{found}; stopped at --limit: run txflow migrate again to go on"


def migrate(client: SyncClient, *, force: bool = False, limit: int | None = None) -> Summary:
    """Convert every shard, then set ``txflow:meta``'s schema; ``limit``: stop after
    that many records (the next run goes on). Refuses while workers are registered
    (they would write schema 2's keys alongside schema 1's) unless ``force``."""
    shards, schema = client.hmget(keys.META, ["shards", "schema"])
    if shards is None:
        raise ShardCountMismatch("txflow:meta is missing: nothing was deployed on this Redis yet")
    summary = Summary()
    try:
        check_schema(schema)
        summary.done = True
        return summary  # nothing to do
    except SchemaMismatch:
        if int(str(schema)) > SCHEMA_VERSION:
            raise
    live = int(client.zcard(keys.WORKERS))
    if live and not force:
        raise ConfigError(
            f"{live} workers are registered in {keys.WORKERS}: stop every worker first "
            "(--force if they are gone for good)"
        )
    from rich.console import Console
    from rich.progress import Progress

    with Progress(transient=True, disable=not Console(stderr=True).is_terminal) as progress:
        task = progress.add_task("migrating shards", total=int(shards))
        for k in keys.shard_keys(int(shards)):
            if not convert_shard(client, k, summary, limit):
                return summary
            progress.advance(task)
    client.hset(keys.META, "schema", SCHEMA_VERSION)
    summary.done = True
    return summary


def convert_shard(client: SyncClient, k: ShardKeys, summary: Summary, limit: int | None) -> bool:
    """Convert the shard's account states, then fold its records; false: stopped at
    ``limit``."""
    for chunk in chunks(client.scan_iter(match=k.accounts(), count=CHUNK)):
        summary.accounts += convert_states(client, chunk)
    for chunk in chunks(client.scan_iter(match=k.schema1_records(), count=CHUNK)):
        if limit is not None:
            chunk = chunk[: max(0, limit - summary.records)]
            if not chunk:
                return False
        folded, unreadable = fold_records(client, k, chunk)
        summary.records += folded
        summary.unreadable += unreadable
    return True


def chunks(found: Iterator[Any]) -> Iterator[list[str]]:
    chunk: list[str] = []
    for key in found:
        chunk.append(str(key))
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def convert_states(client: SyncClient, account_keys: list[str]) -> int:
    """Schema 1's state fields of these account hashes as schema 2's one field."""
    with client.pipeline(transaction=False) as pipe:
        for key in account_keys:
            pipe.hmget(key, [records.STATE, *OLD_STATE[:3]])
        found = pipe.execute(raise_on_error=False)
    todo = [
        (key, values)
        for key, values in zip(account_keys, found, strict=True)
        if isinstance(values, list) and values[0] is None and values[1] is not None
    ]
    if todo:
        with client.pipeline(transaction=True) as pipe:
            for key, (_, available, held, locked) in todo:
                value = records.pack_state(int(available), int(held or 0), locked == "1")
                pipe.hset(key, records.STATE, value)
                pipe.hdel(key, *OLD_STATE)
            pipe.execute()
    return len(todo)


def fold_records(client: SyncClient, k: ShardKeys, record_keys: list[str]) -> tuple[int, int]:
    """Each schema 1 transaction hash as a field of its account's hash, the key deleted.
    Returns (folded, unreadable)."""
    with client.pipeline(transaction=False) as pipe:
        for key in record_keys:
            pipe.hgetall(key)
        found = pipe.execute(raise_on_error=False)
    folded: list[tuple[str, str, str, str]] = []
    unreadable = 0
    for key, h in zip(record_keys, found, strict=True):
        try:
            folded.append((key, *k.schema1_record_of(key), packed(h)))
        except (KeyError, ValueError, TypeError):
            unreadable += 1
    if folded:
        with client.pipeline(transaction=True) as pipe:
            for key, account_id, tx_id, value in folded:
                pipe.hset(k.account(account_id), tx_id, value)
                pipe.delete(key)
            pipe.execute()
    return len(folded), unreadable


def packed(h: Any) -> str:
    """A schema 1 transaction hash as a schema 2 record; raises on anything else."""
    if not isinstance(h, dict) or not h:
        raise TypeError("not a hash")
    amount = h.get("amount")
    return records.pack(
        h["type"],
        h["state"],
        h["outcome"],
        None if amount is None else int(amount),
        h.get("entry", ""),
        h.get("ref"),
        h.get("reason"),
    )
