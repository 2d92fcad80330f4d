"""``txflow parked list|show|retry|skip``: parked accounts, and resolving them.

An account is parked when one of its entries could not be applied; that entry
and every later one of the account wait, in order, in its held list (see
``shared.parking``). Retry and skip are requests to the shard's owner, carried
out by its fenced commit: this command appends one to the shard's ``:ctl``
stream and waits, up to ``--timeout``, for the result. A request not carried
out in time stays queued; the shard's owner (the next one, if there is none
now) carries it out later.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, NotRequired, cast

import orjson
from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic reads these (the console's OpenAPI)

from services.cli.status import shard_count
from shared.errors import InvalidInput
from shared.keys import ShardKeys, shard_keys
from shared.model import PostedTx, Tx, check_id
from shared.parking import Op, Parked, Request, held_from
from shared.sharding import shard_of
from shared.store import SyncClient

POLL_S = 0.1


@with_config(ConfigDict(extra="forbid"))
class ParkedAccount(TypedDict):
    shard: int
    account: str
    reason: str
    since: int  # ms since the epoch
    held: int  # entries set aside


class Resolution(TypedDict):
    """What the owner did with a retry or skip: its result (services/worker/control.py)."""

    status: str  # released, parked (still), not_parked, stale, invalid
    account: NotRequired[str | None]
    outcomes: NotRequired[dict[str, int] | None]  # of the held entries decided
    held: NotRequired[int | None]  # entries still held
    skipped: NotRequired[str | None]  # the entry dead-lettered by a skip
    reason: NotRequired[str | None]  # why it is still parked
    detail: NotRequired[str | None]


class HeldTx(PostedTx):
    entry: str  # its stream ID in :in


class Undecodable(TypedDict):
    entry: str
    undecodable: str  # why


class HeldAccount(TypedDict):
    """A parked account and the first of its held entries (``txflow parked show``)."""

    shard: int
    account: str
    reason: str
    since: str  # ISO 8601, UTC
    held: int
    entries: list[HeldTx | Undecodable]


def accounts(client: SyncClient) -> list[ParkedAccount]:
    """Every parked account: shard, account, reason, since (ms), held (entries)."""
    every = shard_keys(shard_count(client))
    pipe = client.pipeline(transaction=False)
    for k in every:
        pipe.hgetall(k.parked)
    found = [
        (k, str(a), Parked.decode(v))
        for k, h in zip(every, pipe.execute(), strict=True)
        for a, v in h.items()
    ]
    held = held_counts(client, [(k, a) for k, a, _ in found])
    return [
        {"shard": k.shard, "account": a, "reason": p.reason, "since": p.since, "held": n}
        for (k, a, p), n in zip(found, held, strict=True)
    ]


def held_counts(client: SyncClient, accounts: list[tuple[ShardKeys, str]]) -> list[int]:
    """How many entries each parked account holds, in one pipeline."""
    if not accounts:
        return []
    pipe = client.pipeline(transaction=False)
    for k, account in accounts:
        pipe.llen(k.held(account))
    return [int(n) for n in pipe.execute()]


def parked_of(client: SyncClient, account: str) -> tuple[ShardKeys, Parked]:
    """The account's shard keys and why it is parked; ``LookupError`` when it is not."""
    check_id("account", account)
    k = ShardKeys(shard_of(account, shard_count(client)))
    info: Any = client.hget(k.parked, account)
    if info is None:
        raise LookupError(f"account {account} is not parked")
    return k, Parked.decode(info)


def show(client: SyncClient, account: str, limit: int = 100) -> HeldAccount:
    """The parked account and its first ``limit`` held entries, in order."""
    k, info = parked_of(client, account)
    rows: Any = client.lrange(k.held(account), 0, limit - 1)
    entries: list[HeldTx | Undecodable] = []
    for row in rows:
        entry_id, data = held_from(row)
        try:
            entries.append({"entry": entry_id, **Tx.decode(data or "").to_wire()})
        except InvalidInput as e:
            entries.append({"entry": entry_id, "undecodable": str(e)})
    held: Any = client.llen(k.held(account))
    return {
        "shard": k.shard,
        "account": account,
        "reason": info.reason,
        "since": _when(info.since),
        "held": int(held),
        "entries": entries,
    }


def send(client: SyncClient, op: Op, account: str, note: str = "") -> tuple[ShardKeys, str]:
    """Ask the owner to ``op`` the account; the request's shard keys and id.

    A skip names the held entry it skips (the first, now): sent twice, it
    still skips one entry only.
    """
    k, _ = parked_of(client, account)
    entry = ""
    if op == "skip":
        head: Any = client.lindex(k.held(account), 0)
        entry = held_from(head)[0] if head is not None else ""
    fields: dict[Any, Any] = Request(op, account, entry, note).fields()
    request_id: Any = client.xadd(k.control, fields)
    return k, str(request_id)


def result(client: SyncClient, k: ShardKeys, request_id: str) -> Resolution | None:
    """The request's result, or ``None`` while it is not carried out."""
    raw: Any = client.get(k.control_result(request_id))
    return None if raw is None else cast(Resolution, orjson.loads(raw))


def wait(client: SyncClient, k: ShardKeys, request_id: str, timeout: float) -> Resolution:
    deadline = time.monotonic() + timeout
    while (found := result(client, k, request_id)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"no answer from the owner of shard {k.shard} within {timeout:g}s (is a worker "
                f"running?); request {request_id} stays queued and will be carried out"
            )
        time.sleep(POLL_S)
    return found


def resolve(
    client: SyncClient, op: Op, account: str, note: str = "", timeout: float = 30.0
) -> Resolution:
    """Retry or skip a parked account: send the request, wait for its result
    (``RuntimeError`` past ``timeout``: the request stays queued). ``txflow parked
    retry|skip`` and the console's buttons both come here."""
    k, request_id = send(client, op, account, note)
    return wait(client, k, request_id, timeout)


def describe(found: Resolution) -> str:
    """One line saying what a retry or skip did."""
    account, status = found.get("account"), found["status"]
    outcomes = ", ".join(f"{n} {o}" for o, n in sorted((found.get("outcomes") or {}).items()))
    skipped = f"skipped {found['skipped']} (to the DLQ); " if "skipped" in found else ""
    if status == "released":
        return f"account {account} released: {skipped}held entries decided in order ({outcomes})"
    if status == "parked":
        done = f" ({outcomes} before it)" if outcomes else ""
        return (
            f"account {account} still parked: {skipped}{found['reason']}; "
            f"{found['held']} entries held{done}"
        )
    if status == "not_parked":
        return f"account {account} is not parked (any more): nothing done"
    return f"nothing done: {found.get('detail', status)}"


def show_table(found: list[ParkedAccount]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"parked accounts ({len(found)})")
    for column in ("shard", "account", "held", "since", "reason"):
        table.add_column(column, justify="right" if column in ("shard", "held") else "left")
    for p in found:
        table.add_row(str(p["shard"]), p["account"], str(p["held"]), _when(p["since"]), p["reason"])
    Console().print(table)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")
