"""Operator requests about parked accounts, carried out by the shard's owner.

``txflow parked retry|skip`` appends a request to ``txflow:{s}:ctl``. The
owner looks for requests between batches (when idle, and at least every
``block_ms`` under load), plans each like a batch — the held entries decided
in order by the same code as any entry — and commits it with the fenced
commit script, which deletes the request and writes its result in the same
step: a request is carried out once, by the shard's owner, like any commit.
A commit of held entries names the head of the held list it read, so one
re-sent after a lost reply changes nothing.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import orjson

from services.worker.accounts import Account
from services.worker.batch import Entry, Plan, Planner, decode_all
from services.worker.cache import CachedAccount
from services.worker.parking import Answer
from shared.errors import InvalidInput
from shared.model import Tx
from shared.parking import Parked, Request, held_from
from shared.sharding import shard_of

if TYPE_CHECKING:
    from services.worker.shard import ShardRunner

REQUESTS_PER_LOOK = 10


async def carry_out(runner: ShardRunner) -> bool:
    """Carry out the shard's pending operator requests (a few); whether there were any."""
    requests = await runner.store.requests(REQUESTS_PER_LOOK)
    for request_id, fields in requests:
        await handle(runner, request_id, fields)
    return bool(requests)


async def handle(runner: ShardRunner, request_id: str, fields: dict[str, str]) -> None:
    try:
        request = Request.decode(fields)
        if shard_of(request.account, runner.settings.shards) != runner.shard:
            raise InvalidInput(f"account {request.account} is not of shard {runner.shard}")
    except InvalidInput as e:
        await answer(runner, request_id, Plan(from_inbox=False), status="invalid", detail=str(e))
        return
    info = runner.parked.get(request.account)
    if info is None:
        await answer(
            runner, request_id, Plan(from_inbox=False), status="not_parked", account=request.account
        )
        return
    await retry(runner, request_id, request, info)


async def answer(runner: ShardRunner, request_id: str, plan: Plan, **result: Any) -> None:
    """Commit ``plan`` with the request's result; the request is deleted with it."""
    key = runner.keys.control_result(request_id)
    ttl = runner.settings.control_result_ttl_s
    plan.parks.answer = Answer(request_id, key, orjson.dumps(result), ttl)
    await runner.commit(plan)


async def retry(runner: ShardRunner, request_id: str, request: Request, info: Parked) -> None:
    """Decide the account's held entries in order, a batch at a time, up to the first
    that still fails (the account stays parked, with why) or the last (released).

    ``skip`` first dead-letters the head entry, if it is still the one named.
    """
    account, held_list = request.account, runner.keys.held(request.account)
    skip = request.op == "skip"
    outcomes: Counter[str] = Counter()
    skipped = {"skipped": request.entry} if skip else {}
    while True:
        rows, total = await runner.store.held(account, runner.settings.batch)
        entries = [Entry(*held_from(row)) for row in rows]
        if skip and (not entries or entries[0].id != request.entry):
            head = entries[0].id if entries else None
            detail = f"the first held entry is {head}, not {request.entry}: nothing skipped"
            await answer(
                runner,
                request_id,
                Plan(from_inbox=False),
                status="stale",
                account=account,
                detail=detail,
            )
            return
        txs = decode_all(entries)
        unreadable = await load_afresh(runner, account, txs)
        note = f"skipped by operator: {request.note}" if skip else ""
        plan, why = plan_held(runner, entries, txs, note, unreadable.get(account))
        skip = False
        outcomes.update(str(o["o"]) for o in plan.outs)
        parking, taken = plan.parks, len(plan.ids)
        if rows:
            parking.guard = (held_list, rows[0])
        if why is None and taken == total:
            parking.taken[held_list] = None
            parking.parked[account] = None  # released
            await answer(
                runner,
                request_id,
                plan,
                status="released",
                account=account,
                outcomes=dict(outcomes),
                held=0,
                **skipped,
            )
            return
        if taken:
            parking.taken[held_list] = taken
        if why is not None:
            parking.parked[account] = Parked(why, info.since)
            await answer(
                runner,
                request_id,
                plan,
                status="parked",
                account=account,
                outcomes=dict(outcomes),
                held=total - taken,
                reason=why,
                **skipped,
            )
            return
        await runner.commit(plan)  # a batch of them; the next ones follow


async def load_afresh(
    runner: ShardRunner, account: str, txs: list[Tx | InvalidInput]
) -> dict[str, str]:
    """Load the account and the records its held entries need, whatever the cache held:
    the operator may have repaired its state in Redis. Its unreadable state, if so."""
    runner.cache.forget(account)
    unreadable = await runner.loader.load(txs, {})
    if account not in runner.cache and account not in unreadable:
        # No state in Redis: any record of its ids is a dead or parked one. Read them
        # (an incomplete account asks Redis) so that a decision replaces them whole.
        runner.cache.put(account, CachedAccount(Account(), complete=False))
        unreadable = await runner.loader.load(txs, {})
    return unreadable


def plan_held(
    runner: ShardRunner,
    entries: list[Entry],
    txs: list[Tx | InvalidInput],
    skip_note: str,
    unreadable: str | None,
) -> tuple[Plan, str | None]:
    """The plan deciding held entries in order up to the first that cannot be, and why
    that one cannot (``None``: none failed). ``skip_note``: dead-letter the first."""
    upto, why = len(entries), None
    while True:
        planner = Planner(runner.keys, runner.cache)
        failed: tuple[int, str] | None = None
        for index, (entry, tx) in enumerate(zip(entries[:upto], txs[:upto], strict=True)):
            if isinstance(tx, InvalidInput):
                planner.add_dead(entry, None, f"undecodable: {tx}")
            elif index == 0 and skip_note:
                planner.add_dead(entry, tx, skip_note)
            elif unreadable is not None:
                failed = index, unreadable
                break
            else:
                try:
                    planner.add(entry, tx)
                except Exception as e:  # still failing: the account stays parked
                    failed = index, f"retry raised: {e!r}"
                    break
        if failed is None:
            plan = planner.finish()
            plan.from_inbox = False
            return plan, why
        upto, why = failed  # planned again without it: a half-made plan is never committed
