"""From stream entries to a commit plan: decode, decide, collect the writes.

Pure over its inputs: the owner's cache is read, never written; the plan
carries the changes to install in the cache once the commit succeeded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from services.worker.accounts import OUTCOME_AT, UNDECIDED, Account, PackedRecord, record_of
from services.worker.cache import AccountCache
from services.worker.ledger import decide
from services.worker.parking import Parking
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

    ``writes``: each account's records this batch made or changed (a deposit
    disputed, resolved, charged back), packed (``accounts.PackedRecord``): the
    commit's HSET of the account, and what the batch reads before the cache.
    ``accounts``: each decided account's state after the batch, and
    ``states`` the same packed as the hash's ``STATE`` field. ``hsets``
    (made by ``Planner.finish``): one flat field/value list per account of
    ``writes``, its state first, as the commit script takes them.
    """

    ids: list[str] = field(default_factory=list)
    writes: dict[str, dict[str, PackedRecord]] = field(default_factory=dict)  # by account, tx id
    accounts: dict[str, Account] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    hsets: list[list[str]] = field(default_factory=list)
    outs: list[Written] = field(default_factory=list)
    dead: list[bytes] = field(default_factory=list)
    parking: Parking | None = None
    from_inbox: bool = True  # false: entries of a held list (a retry), not :in's next ones

    @property
    def parks(self) -> Parking:
        if self.parking is None:
            self.parking = Parking()
        return self.parking

    def install(self, cache: AccountCache, parked: dict[str, Parked]) -> None:
        """Make the committed changes visible in the cache and the shard's parked accounts
        (the plan's record dicts become the cache's: the plan is done with)."""
        cache.install(self.accounts, self.writes)
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


_NONE: dict[str, PackedRecord] = {}  # read-only: "no records here"


class Planner:
    """Builds a plan over the cache plus an overlay of this batch's changes.

    ``parked``: the shard's parked accounts; their entries are held, not decided
    (an account parked by this plan joins them).
    """

    __slots__ = ("cached", "keys", "parked", "plan")

    def __init__(
        self, keys: ShardKeys, cache: AccountCache, parked: dict[str, Parked] | None = None
    ) -> None:
        self.keys = keys
        self.cached = cache.peek
        self.parked = dict(parked) if parked else {}
        self.plan = Plan()

    def finish(self) -> Plan:
        """The plan, with each account's HSET: its final state, then its records."""
        plan = self.plan
        states = plan.states
        for account_id, fields in plan.writes.items():
            state = states.get(account_id)
            hset = [] if state is None else [STATE, state]
            for field_value in fields.items():  # (a chain costs more for a record or two)
                hset += field_value
            plan.hsets.append(hset)
        return plan

    def record(self, account_id: str, tx_id: str) -> PackedRecord | None:
        written = self.plan.writes.get(account_id)
        if written is not None and tx_id in written:
            return written[tx_id]
        cached = self.cached(account_id)
        return None if cached is None else cached.records.get(tx_id)

    def add(self, entry: Entry, tx: Tx) -> Outcome:
        # The hot path: runs once per transaction, so lookups are inlined here.
        entry_id = entry.id
        account_id, tx_id, kind, _, ref_id, accepted_at = tx
        plan = self.plan
        written = plan.writes.get(account_id)  # this batch's records, read before the cache's
        if written is None:
            written = plan.writes[account_id] = {}
        cached = self.cached(account_id)
        known = cached.records if cached is not None else _NONE
        own = written.get(tx_id) or known.get(tx_id)
        ref = None if ref_id is None else (written.get(ref_id) or known.get(ref_id))
        account = plan.accounts.get(account_id)
        if account is None and cached is not None:
            account = cached.account
        outcome, reason, after, record, new_ref = decide(account, tx, own, ref, entry_id)
        plan.ids.append(entry_id)
        plan.accounts[account_id] = after
        if record is not None:  # (a dead or parked record decided at last is replaced whole)
            written[tx_id] = record
        if new_ref is not None:
            assert ref_id is not None
            written[ref_id] = new_ref
        # outcome_doc's, with the account's state after it packed as the hash's state
        # field (records.pack_state's format): what a waiting client and the outcome
        # stream are answered with, and what the commit writes for the last one
        available, held, locked = after
        plan.states[account_id] = state = f"{available}|{held}|{1 if locked else 0}"
        doc: Written = {
            "e": entry_id,
            "a": account_id,
            "t": tx_id,
            "y": kind,
            "o": outcome,
            "at": accepted_at,
            "s": state,
        }
        if reason is not None:
            doc["r"] = reason
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
        if own is None or own[OUTCOME_AT] in UNDECIDED:
            written = plan.writes.setdefault(tx.account_id, {})
            written[tx.tx_id] = record_of(tx, Outcome.DEAD, entry.id, reason)
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
        record = record_of(tx, Outcome.PARKED, entry.id, reason)
        parking.records[(self.keys.account(account_id), tx.tx_id)] = record
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
