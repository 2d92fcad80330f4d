"""``txflow account ID``: an account's state and its transactions, as the API answers them."""

from __future__ import annotations

from typing import cast

from services.cli.status import shard_count
from shared.history import HistoryPage, page
from shared.keys import ShardKeys
from shared.model import check_id
from shared.records import STATE, AccountState, account_view
from shared.sharding import shard_of
from shared.store import SyncClient


class Statement(HistoryPage):
    """An account's state (``None`` before it has one) and a page of its history."""

    state: AccountState | None


def statement(
    client: SyncClient, account_id: str, *, cursor: str | None, limit: int, order: str
) -> Statement:
    """The account's state (``None`` before it has one) and a page of its history, as
    ``GET /v1/accounts/{id}`` and ``…/transactions`` answer them; ``LookupError`` when
    Redis holds nothing of the account."""
    check_id("account", account_id)
    key = ShardKeys(shard_of(account_id, shard_count(client))).account(account_id)
    fields = cast(dict[str, str], client.hgetall(key))
    if not fields:
        raise LookupError(f"account {account_id!r} has no processed transaction")
    state = fields.get(STATE)
    found = page(account_id, fields, cursor=cursor, limit=limit, order=order)
    return {"state": None if state is None else account_view(account_id, state), **found}


def show_table(found: Statement) -> None:
    from rich.console import Console
    from rich.table import Table

    state = found["state"]
    title = f"account {found['account_id']}"
    if state is not None:
        lock = ", locked" if state["locked"] else ""
        title += f": available {state['available']}, held {state['held']}{lock}"
    table = Table(title=title)
    for column in ("stream id", "tx", "type", "amount", "state", "outcome", "ref / reason"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    for tx in found["transactions"]:
        note = " ".join(str(x) for x in (tx["ref_tx_id"], tx["reason"]) if x is not None)
        table.add_row(
            tx["stream_id"],
            tx["tx_id"],
            tx["type"],
            tx["amount"] or "",
            tx["state"],
            tx["status"],
            note,
        )
    console = Console()
    console.print(table)
    if found["next_cursor"]:
        console.print(f"more: --cursor {found['next_cursor']}")
