"""``Prefer: wait=N`` (RFC 7240): accept, then answer with the outcomes if they come in time.

``accept`` registers a waiter per transaction (``waiters``), appends as
without the header, and waits up to N seconds (at most ``TXFLOW_MAX_WAIT_S``)
for every outcome. All decided: ``200``, each receipt with its ``outcome``,
``reason`` and ``account`` (the state after it), and ``Preference-Applied``.
Else ``202`` and the receipts, exactly as without the header. Past
``TXFLOW_MAX_WAITERS`` transactions waiting, the preference is ignored (``202``
at once), as RFC 7240 allows.

What the reader has not delivered by the deadline is looked up once in the
records: an entry decided all the same (read while the reader was cut off from
Redis) answers from its record; an id decided earlier by another entry, whose
own entry the checkpoint has passed, is a ``duplicate``. A parked or dead
outcome carries no state: the account's current one is read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from contextlib import suppress

from services.ingest.intake import Intake, Receipt
from services.ingest.waiters import Waiters
from shared import keys, records
from shared.errors import StoreUnavailable
from shared.model import Tx
from shared.outcomes import Decision
from shared.records import AccountState
from shared.store import Client, translated
from shared.streams import id_key


class Decided(Receipt):
    """A receipt with its outcome: the ``200`` answer of ``Prefer: wait``."""

    outcome: str
    reason: str | None
    account: AccountState | None  # the state after it (none for parked / dead)


def preferred_wait(values: Iterable[str]) -> int | None:
    """The seconds of a ``wait`` preference among ``Prefer`` header values, if any.

    RFC 7240: preferences are comma-separated, each ``token[=value]`` then
    ``;``-parameters; names are case-insensitive; a value may be quoted. The
    first ``wait`` counts; one that is not a whole number is ignored.
    """
    for value in values:
        for preference in value.split(","):
            name, _, given = preference.split(";", 1)[0].partition("=")
            if name.strip().lower() == "wait":
                seconds = given.strip().strip('"')
                return int(seconds) if seconds.isdigit() else None
    return None


class Wait:
    """What a request with ``Prefer: wait`` needs: the intake, the waiters, the records."""

    def __init__(
        self,
        intake: Intake,
        waiters: Waiters,
        client: Client,
        *,
        shards: int,
        max_wait_s: float,
        deadline_s: float,
    ) -> None:
        self.intake = intake
        self.waiters = waiters
        self._client = client
        self._keys = keys.shard_keys(shards)
        self.max_wait_s = max_wait_s
        self._deadline_s = deadline_s

    def applied(self, seconds: int) -> float:
        """The wait applied for a preference of ``seconds``: capped by the setting."""
        return min(float(seconds), self.max_wait_s)

    async def answer(
        self, txs: Sequence[Tx], client: str, prefer: Iterable[str]
    ) -> tuple[int, list[Receipt], dict[str, str]]:
        """Status, receipts and headers for ``txs`` given the request's ``Prefer`` values."""
        seconds = preferred_wait(prefer)
        if not seconds or not txs:
            return 202, await self.intake.accept(txs, client), {}
        applied = self.applied(seconds)
        status, receipts = await self.accept(txs, client, applied)
        return (
            status,
            receipts,
            ({"preference-applied": f"wait={applied:g}"} if status == 200 else {}),
        )

    async def accept(
        self, txs: Sequence[Tx], client: str, seconds: float
    ) -> tuple[int, list[Receipt]]:
        """``(200, receipts with outcomes)`` when all are decided within ``seconds``,
        else ``(202, receipts)``."""
        waiters = self.waiters.register([(tx.account_id, tx.tx_id) for tx in txs])
        if waiters is None:  # at the bound: as without the header
            return 202, await self.intake.accept(txs, client)
        try:
            if not self.waiters.reading:
                async with translated(self._deadline_s):
                    await self.waiters.started()
            receipts = await self.intake.accept(txs, client)
            for waiter, receipt in zip(waiters, receipts, strict=True):
                waiter.bind(receipt["stream_id"])
            done = waiters[0].request.done
            if not done.done():
                timer = asyncio.get_running_loop().call_later(seconds, _expire, done)
                try:
                    await done
                finally:
                    timer.cancel()
            outcomes: list[Decision | None] = [w.outcome for w in waiters]
        finally:
            self.waiters.release(waiters)
        return await self._answer(receipts, outcomes)

    async def _answer(
        self, receipts: list[Receipt], outcomes: list[Decision | None]
    ) -> tuple[int, list[Receipt]]:
        looked_up = [i for i, o in enumerate(outcomes) if o is None or "s" not in o]
        if looked_up:
            try:
                found = await self._look_up([receipts[i] for i in looked_up])
            except StoreUnavailable:
                return 202, receipts
            for i, (outcome, state) in zip(looked_up, found, strict=True):
                if outcomes[i] is None and outcome is not None:
                    outcomes[i] = outcome
                decision = outcomes[i]
                if decision is not None and state is not None:
                    outcomes[i] = {**decision, "s": state}
        if any(o is None for o in outcomes):
            return 202, receipts
        return 200, [
            _decided(receipt, outcome)
            for receipt, outcome in zip(receipts, outcomes, strict=True)
            if outcome is not None
        ]

    async def _look_up(self, receipts: list[Receipt]) -> list[tuple[Decision | None, str | None]]:
        """Per receipt: its outcome as the records tell it (or ``None``) and the account's state."""
        pipe = self._client.pipeline(transaction=False)
        for r in receipts:
            k = self._keys[r["shard"]]
            pipe.hmget(k.account(r["account_id"]), [r["tx_id"], records.STATE])
            pipe.get(k.ckpt)
        async with translated(self._deadline_s):
            replies = await pipe.execute()
        found = []
        for n, r in enumerate(receipts):
            (value, state), ckpt = replies[2 * n], replies[2 * n + 1]
            found.append((_recorded(r, value, ckpt), state))
        return found


def _expire(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


def _recorded(receipt: Receipt, value: str | None, ckpt: str | None) -> Decision | None:
    """The outcome of the receipt's entry as its record tells it, else ``None``."""
    if value is None:
        return None
    with suppress(KeyError, ValueError):
        record = records.unpack(value)
        if record.entry == receipt["stream_id"]:
            return {"o": record.outcome, "r": record.reason}
        passed = ckpt is not None and id_key(ckpt) >= id_key(receipt["stream_id"])
        if passed and record.outcome in ("applied", "rejected"):
            return {"o": "duplicate"}
    return None


def _decided(receipt: Receipt, outcome: Decision) -> Decided:
    state = outcome.get("s")
    account = None if state is None else records.account_view(receipt["account_id"], state)
    return {**receipt, "outcome": outcome["o"], "reason": outcome.get("r"), "account": account}
