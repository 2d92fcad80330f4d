"""``txflow status``: shards, their node, owners, lag, pending, dead letters, parked
accounts and the entries they hold, live workers.

A shard's node is the server holding its keys: on a Redis Cluster, the primary
of its hash tag's slot; on one Redis, that server.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic reads these (the console's OpenAPI)

from shared import keys
from shared.errors import ShardCountMismatch
from shared.lag import backlog, shard_lag
from shared.store import SyncClient, node_of


# extra="forbid": a field added to a document without its description here fails
# the console's shape test (tests/console/test_status.py).
@with_config(ConfigDict(extra="forbid"))
class ShardStatus(TypedDict):
    shard: int
    node: str
    owner: str | None
    epoch: int
    ckpt: str | None
    lag: int | None
    pending: int
    oldest_pending_ms: int | None
    dlq: int
    parked: int  # accounts
    held: int  # entries the parked accounts hold
    # the shard's counts of entries appended and committed ever (None before the
    # first commit counted them): the console's rates
    appended: int | None
    committed: int | None


@with_config(ConfigDict(extra="forbid"))
class WorkerStatus(TypedDict):
    id: str
    expires_in_ms: int  # until its heartbeat expires
    shards: list[int]


class Snapshot(TypedDict):
    shards: list[ShardStatus]
    workers: list[WorkerStatus]


def shard_count(client: SyncClient) -> int:
    stored = client.hget(keys.META, "shards")
    if stored is None:
        raise ShardCountMismatch("txflow:meta is missing: nothing was deployed on this Redis yet")
    return int(stored)


def snapshot(client: SyncClient) -> Snapshot:
    """Everything ``status`` shows, as plain data (also the ``--json`` output)."""
    shards = keys.shard_keys(shard_count(client))
    pipe = client.pipeline(transaction=False)
    for k in shards:
        pipe.get(k.lease)
        pipe.get(k.epoch)
        pipe.get(k.ckpt)
        pipe.xinfo_groups(k.inbox)
        pipe.xpending_range(k.inbox, keys.GROUP, "-", "+", 1)
        pipe.xlen(k.dlq)
        pipe.xinfo_stream(k.inbox)
        pipe.get(k.committed)
        pipe.xlen(k.inbox)
        pipe.hkeys(k.parked)
    replies = pipe.execute()
    parked = [(k, str(a)) for i, k in enumerate(shards) for a in replies[10 * i + 9]]
    held: dict[int, int] = {}
    for (k, _), n in zip(parked, _held_counts(client, parked), strict=True):
        held[k.shard] = held.get(k.shard, 0) + n
    rows: list[ShardStatus] = []
    for i, k in enumerate(shards):
        owner, epoch, ckpt, groups, oldest, dlq, info, committed, size, accounts = replies[
            10 * i : 10 * i + 10
        ]
        group: dict[str, Any] = next((g for g in groups if g["name"] == keys.GROUP), {})
        lag = backlog(info, committed)
        rows.append(
            {
                "shard": k.shard,
                "node": node_of(client, k.inbox),
                "owner": owner,
                "epoch": int(epoch or 0),
                "ckpt": ckpt,
                "lag": shard_lag(groups, size) if lag is None else lag,
                "pending": group.get("pending", 0),
                "oldest_pending_ms": oldest[0]["time_since_delivered"] if oldest else None,
                "dlq": dlq,
                "parked": len(accounts),
                "held": held.get(k.shard, 0),
                "appended": info.get("entries-added"),
                "committed": None if committed is None else int(committed),
            }
        )
    now_ms = int(time.time() * 1000)
    workers: list[WorkerStatus] = [
        {
            "id": w,
            "expires_in_ms": int(score) - now_ms,
            "shards": [r["shard"] for r in rows if r["owner"] == w],
        }
        for w, score in _live(client)
    ]
    return {"shards": rows, "workers": workers}


def _held_counts(client: SyncClient, accounts: list[tuple[keys.ShardKeys, str]]) -> list[int]:
    from services.cli.parked import held_counts  # (parked needs shard_count from here)

    return held_counts(client, accounts)


def _live(client: SyncClient) -> list[tuple[str, float]]:
    found: Any = client.zrange(keys.WORKERS, 0, -1, withscores=True)
    return [(str(w), float(s)) for w, s in found]


def as_json(snap: object) -> str:
    return orjson.dumps(snap, option=orjson.OPT_INDENT_2).decode()


def render(snap: Snapshot) -> Any:
    """The snapshot as one compact table: 16 shards fit an 80x24 terminal.

    The node column appears only when shards live on several nodes (a
    cluster); on one Redis its address is in the title.
    """
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    rows = snap["shards"]
    nodes = sorted({r["node"] for r in rows})
    where = f"on {nodes[0]}" if len(nodes) == 1 else f"on {len(nodes)} nodes"
    live = ", ".join(f"{w['id']} ({w['expires_in_ms'] / 1000:.1f}s)" for w in snap["workers"])
    table = Table(
        title=f"{len(rows)} shards {where}",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    columns = ["shard", "node", "owner", "epoch", "lag", "pending", "oldest", "dlq"]
    if len(nodes) == 1:
        columns.remove("node")
    for column in columns:
        left = column in ("node", "owner")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    for r in rows:
        age = "-" if r["oldest_pending_ms"] is None else f"{r['oldest_pending_ms'] / 1000:.1f}s"
        lag = "?" if r["lag"] is None else str(r["lag"])
        owner = r["owner"] or "[red]none[/]"
        cells = [str(r["shard"]), r["node"], owner, str(r["epoch"]), lag, str(r["pending"])]
        cells += [age, str(r["dlq"])]
        if len(nodes) == 1:
            del cells[1]
        table.add_row(*cells)
    # Under the table, not its caption: a caption wraps at the table's width.
    footer = f"{_parked(rows)}live workers (heartbeat expires in): {live or '[red]none[/]'}"
    return Group(table, Text.from_markup(footer))


def _parked(rows: list[ShardStatus]) -> str:
    """One line on parked accounts when there are any (in the caption: the table stays
    80 columns wide); the details are in ``--json`` and ``txflow parked list``."""
    shards = [r for r in rows if r["parked"]]
    if not shards:
        return ""
    accounts, held = sum(r["parked"] for r in shards), sum(r["held"] for r in shards)
    where = ", ".join(str(r["shard"]) for r in shards)
    return f"[red]parked: {accounts} accounts, {held} entries held (shards {where})[/]\n"


def status(client: SyncClient, *, json: bool, watch: float | None) -> int:
    if json:
        print(as_json(snapshot(client)))
        return 0
    from rich.console import Console
    from rich.live import Live

    if watch is None:
        Console().print(render(snapshot(client)))
        return 0
    with Live(render(snapshot(client)), refresh_per_second=4) as live:
        while True:
            time.sleep(watch)
            live.update(render(snapshot(client)))
