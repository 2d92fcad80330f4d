"""From stream entries to a commit plan: decode, decide, collect the writes.

Pure over its inputs: the owner's cache is read, never written; the plan
carries the changes to install in the cache once the commit succeeded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from services.worker import hashes
from services.worker.accounts import UNDECIDED, Account, TxRecord, record_of
from services.worker.cache import AccountCache
from services.worker.hashes import record_value
from services.worker.ledger import decide
from services.worker.parking import Parking
from shared import records
from shared.errors import InvalidInput
from shared.keys import ShardKeys
from shared.model import Outcome, Tx
from shared.outcomes import Written
from shared.parking import Parked, held_entry
from shared.records import STATE


class Entry(NamedTuple):
    """A stream entry as read: its id and its ``d`` field (``None`` if absent)."""

    id: str
    data: str | None


@dataclass(slots=True)
class Plan:
    """Everything one commit writes, and what the cache learns when it succeeds.

    ``writes``: each account's hash fields to set (its state, its records),
    one HSET per account whatever the batch. ``states``: the state of a
    record not written by this batch changed (a deposit disputed, resolved,
    charged back): the commit rewrites that one character of the stored value.
    """

    ids: list[str] = field(default_factory=list)
    writes: dict[str, dict[str, str]] = field(default_factory=dict)  # by account
    states: dict[tuple[str, str], str] = field(default_factory=dict)  # (account, tx id) → state
    outs: list[Written] = field(default_factory=list)
    dead: list[bytes] = field(default_factory=list)
    accounts: dict[str, Account] = field(default_factory=dict)
    records: dict[str, dict[str, TxRecord]] = field(default_factory=dict)  # by account
    parking: Parking | None = None
    from_inbox: bool = True  # false: entries of a held list (a retry), not :in's next ones

    @property
    def parks(self) -> Parking:
        if self.parking is None:
            self.parking = Parking()
        return self.parking

    def write(self, account_id: str, tx_id: str, value: str) -> None:
        fields = self.writes.get(account_id)
        if fields is None:
            self.writes[account_id] = {tx_id: value}
        else:
            fields[tx_id] = value

    def restate(self, account_id: str, tx_id: str, state: str) -> None:
        """The record of ``tx_id`` is now in ``state``: patched here if this plan writes it,
        else by the commit in Redis."""
        fields = self.writes.get(account_id)
        pending = None if fields is None else fields.get(tx_id)
        if fields is not None and pending is not None:
            fields[tx_id] = records.with_state(pending, state)
        else:
            self.states[(account_id, tx_id)] = state

    def remember(self, account_id: str, tx_id: str, record: TxRecord) -> None:
        changed = self.records.get(account_id)
        if changed is None:
            self.records[account_id] = {tx_id: record}
        else:
            changed[tx_id] = record

    def install(self, cache: AccountCache, parked: dict[str, Parked]) -> None:
        """Make the committed changes visible in the cache and the shard's parked accounts."""
        cache.install(self.accounts, self.records)
        if self.parking is not None:
            self.parking.install(parked)


def entries_of(rows: list[Any]) -> list[Entry]:
    """``[(id, {field: value})]`` as returned by XRANGE / XAUTOCLAIM / XREADGROUP."""
    return [Entry(entry_id, fields.get("d") if fields else None) for entry_id, fields in rows]


def entries_of_read(reply: Any) -> list[Entry]:
    """A raw XREADGROUP reply of one stream (RESP2 list or RESP3 map) as entries.

    The worker's client skips redis-py's reshaping of this reply (see
    ``ShardStore``): on the hot path it costs more than reading it here.
    """
    if not reply:
        return []
    rows = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]
    new = tuple.__new__  # see accounts._new
    return [
        # ingest writes one field, 'd': look further only when that is not what is there
        new(Entry, (entry_id, fields[1] if fields and fields[0] == "d" else _field_d(fields)))
        for entry_id, fields in rows
    ]


def _field_d(fields: list[str] | None) -> str | None:
    if not fields:
        return None
    if fields[0] == "d":
        return fields[1]
    for i in range(2, len(fields) - 1, 2):
        if fields[i] == "d":
            return fields[i + 1]
    return None


def decode_all(entries: list[Entry]) -> list[Tx | InvalidInput]:
    decoded: list[Tx | InvalidInput] = []
    append, decode = decoded.append, Tx.decode
    for _, data in entries:
        try:
            append(decode(data) if data is not None else _no_data())
        except InvalidInput as e:
            append(e)
    return decoded


def _no_data() -> Tx:
    raise InvalidInput("entry has no field 'd'")


_NONE: dict[str, TxRecord] = {}  # read-only: "no records here"


class Planner:
    """Builds a plan over the cache plus an overlay of this batch's changes.

    ``parked``: the shard's parked accounts; their entries are held, not decided
    (an account parked by this plan joins them).
    """

    __slots__ = ("cache", "keys", "parked", "plan")

    def __init__(
        self, keys: ShardKeys, cache: AccountCache, parked: dict[str, Parked] | None = None
    ) -> None:
        self.keys = keys
        self.cache = cache
        self.parked = dict(parked) if parked else {}
        self.plan = Plan()

    def finish(self) -> Plan:
        """The plan, with each touched account's final state written once."""
        plan = self.plan
        for account_id, account in plan.accounts.items():
            plan.write(account_id, STATE, hashes.account_value(account))
        return plan

    def record(self, account_id: str, tx_id: str) -> TxRecord | None:
        changed = self.plan.records.get(account_id)
        if changed is not None and tx_id in changed:
            return changed[tx_id]
        cached = self.cache.peek(account_id)
        return None if cached is None else cached.records.get(tx_id)

    def add(self, entry: Entry, tx: Tx) -> Outcome:
        # The hot path: runs once per transaction, so lookups and the plan's
        # small helpers are inlined here.
        entry_id = entry.id
        account_id, tx_id, ref_id = tx.account_id, tx.tx_id, tx.ref_tx_id
        plan = self.plan
        cached = self.cache.peek(account_id)
        known = cached.records if cached is not None else _NONE
        changed = plan.records.get(account_id)
        if changed is None:
            changed = plan.records[account_id] = {}
        own = changed.get(tx_id) or known.get(tx_id)
        ref = None if ref_id is None else (changed.get(ref_id) or known.get(ref_id))
        account = plan.accounts.get(account_id)
        if account is None and cached is not None:
            account = cached.account
        outcome, reason, after, record, new_ref = decide(account, tx, own, ref)
        plan.ids.append(entry_id)
        plan.accounts[account_id] = after
        if record is not None:
            # (a dead or parked record decided at last is replaced whole)
            changed[tx_id] = record
            fields = plan.writes.get(account_id)
            if fields is None:
                plan.writes[account_id] = {tx_id: record_value(record, entry_id)}
            else:
                fields[tx_id] = record_value(record, entry_id)
        if new_ref is not None:
            assert ref_id is not None
            changed[ref_id] = new_ref
            plan.restate(account_id, ref_id, new_ref.state)
        doc = outcome_doc(entry_id, tx, outcome, reason)
        # The account's state after it, packed as the hash's state field: what a
        # waiting client and the outcome stream are answered with.
        doc["s"] = f"{after.available}|{after.held}|{1 if after.locked else 0}"
        plan.outs.append(doc)
        return outcome

    def add_dead(self, entry: Entry, tx: Tx | None, reason: str) -> None:
        """Dead-letter an entry; a decodable one also leaves a ``dead`` record.

        The dead record does not create the account and does not reserve the
        id: a replay of the dead letter is processed as new.
        """
        plan = self.plan
        plan.ids.append(entry.id)
        plan.dead.append(orjson.dumps({"e": entry.id, "d": entry.data, "reason": reason}))
        if tx is None:
            return
        own = self.record(tx.account_id, tx.tx_id)
        if own is None or own.outcome in UNDECIDED:
            record = record_of(tx, Outcome.DEAD, reason)
            plan.remember(tx.account_id, tx.tx_id, record)
            plan.write(tx.account_id, tx.tx_id, record_value(record, entry.id))
        plan.outs.append(outcome_doc(entry.id, tx, Outcome.DEAD, reason))

    def park(self, entry: Entry, tx: Tx, parked: Parked) -> None:
        """Park the entry's account: hold this entry, and every later one of the account."""
        self.parked[tx.account_id] = parked
        self.plan.parks.parked[tx.account_id] = parked
        self.hold(entry, tx)

    def hold(self, entry: Entry, tx: Tx) -> None:
        """Set the entry of a parked account aside, at the end of its held list.

        It is acknowledged with the batch; its record says ``parked`` unless its
        id holds a decided record already (a duplicate stays one: the retry
        finds the record). Parked records never enter the cache: a decision
        treats them as absent, and a retry reads them from Redis.
        """
        account_id = tx.account_id
        reason = self.parked[account_id].reason
        plan, parking = self.plan, self.plan.parks
        plan.ids.append(entry.id)
        parking.push(self.keys.held(account_id), held_entry(entry.id, entry.data))
        record = record_of(tx, Outcome.PARKED, reason)
        parking.records[(self.keys.account(account_id), tx.tx_id)] = record_value(record, entry.id)
        plan.outs.append(outcome_doc(entry.id, tx, Outcome.PARKED, reason))


def outcome_doc(entry_id: str, tx: Tx, outcome: Outcome, reason: str | None) -> Written:
    """One outcome of a ``:out`` entry (``shared.outcomes``)."""
    # StrEnum members are strs: orjson writes them as their values.
    if reason is None:
        return {
            "e": entry_id,
            "a": tx.account_id,
            "t": tx.tx_id,
            "y": tx.type,
            "o": outcome,
            "at": tx.accepted_at,
        }
    return {
        "e": entry_id,
        "a": tx.account_id,
        "t": tx.tx_id,
        "y": tx.type,
        "o": outcome,
        "r": reason,
        "at": tx.accepted_at,
    }


def first_entries(
    entries: list[Entry], txs: list[Tx | InvalidInput], accounts: Mapping[str, str]
) -> dict[str, str]:
    """The id of the first entry of each of ``accounts`` in the batch → that account's value."""
    found: dict[str, str] = {}
    if not accounts:
        return found
    seen: set[str] = set()
    for entry, tx in zip(entries, txs, strict=True):
        if isinstance(tx, Tx) and tx.account_id in accounts and tx.account_id not in seen:
            seen.add(tx.account_id)
            found[entry.id] = accounts[tx.account_id]
    return found
