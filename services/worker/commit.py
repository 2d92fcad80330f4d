"""One call of ``lua/commit.lua``: its keys and arguments from a plan, its reply."""

from __future__ import annotations

from typing import Any

import orjson

from services.worker.batch import Plan
from shared.errors import Fenced, Gap
from shared.keys import GROUP, ShardKeys


def arguments(
    k: ShardKeys, plan: Plan, worker_id: str, token: int, out_entries: int, trim: str
) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of the commit of ``plan`` (see the script's header)."""
    keys = [k.lease, k.epoch, k.ckpt, k.inbox, k.outbox, k.dlq, k.committed, k.control]
    writes = plan.writes
    keys += [k.account(account_id) for account_id in writes]
    args: list[Any] = [worker_id, token, GROUP]
    if plan.from_inbox:
        args += [plan.ids[0], plan.ids[-1], out_entries, trim]
    else:  # a retry of held entries: acknowledged long ago, ckpt is not theirs
        args += ["", "", out_entries, ""]
    acked = plan.ids if plan.from_inbox else []
    args += [len(acked)]
    args += [orjson.dumps(plan.hsets)]
    args += [orjson.dumps(plan.outs) if plan.outs else "", b"\n".join(plan.dead)]
    parking = plan.parking
    if parking is None:  # the usual batch
        return keys, [*args, "", "", *acked]
    where: dict[str, int] = {key: i for i, key in enumerate(keys, 1)}

    def index(key: str) -> int:
        i = where.get(key)
        if i is None:
            keys.append(key)
            i = where[key] = len(keys)
        return i

    request = "" if parking.answer is None else parking.answer.request_id
    return keys, [*args, orjson.dumps(parking.ops(k.parked, index)), request, *acked]


def check(reply: Any, plan: Plan) -> None:
    """Raise ``Fenced`` or ``Gap`` unless the commit script answered ``ok``."""
    status = reply[0]
    if status == "ok":
        return
    if status == "fenced":
        raise Fenced("lease or epoch moved on")
    if status == "gap":
        raise Gap(f"batch starts at {plan.ids[0]} but {reply[1] or 'nothing'} follows ckpt")
    raise Gap("held entries or the operator request are not what the plan saw: committed already?")
