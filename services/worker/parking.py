"""The parking part of a commit: accounts parked or released, entries held or taken back.

Formats and keys are in ``shared.parking``; this is what one commit changes,
and how ``lua/commit.lua`` is told (``ops``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from shared.parking import Parked

# Held entries appended per RPUSH: Lua's unpack is bounded by its C stack.
PUSH_SLICE = 1000


class Answer(NamedTuple):
    """The result of an operator request, written by the commit that carries it out."""

    request_id: str
    result_key: str
    result: bytes
    ttl_s: int


@dataclass(slots=True)
class Parking:
    """What one commit changes in the shard's parking, in the order it is done."""

    parked: dict[str, Parked | None] = field(default_factory=dict)  # None: released
    pushed: dict[str, list[bytes]] = field(default_factory=dict)  # held list → entries appended
    taken: dict[str, int | None] = field(default_factory=dict)  # held list → head entries
    # taken back by a retry (None: all of them, the list is deleted)
    # (account hash, tx id) → the packed parked record
    records: dict[tuple[str, str], str] = field(default_factory=dict)
    guard: tuple[str, str] | None = None  # (held list, the head it must still have)
    answer: Answer | None = None

    def push(self, held_list: str, element: bytes) -> None:
        found = self.pushed.get(held_list)
        if found is None:
            self.pushed[held_list] = [element]
        else:
            found.append(element)

    def install(self, parked: dict[str, Parked]) -> None:
        """The shard's parked accounts once this was committed."""
        for account_id, info in self.parked.items():
            if info is None:
                parked.pop(account_id, None)
            else:
                parked[account_id] = info

    def ops(self, parked_key: str, index: Callable[[str], int]) -> dict[str, Any]:
        """The commit script's parking operations (see its header), keys as ``index(key)``."""
        ops: list[list[Any]] = []
        # Records first: a parked record is written only where no decided record is.
        for (key, tx_id), value in self.records.items():
            ops.append(["REC", index(key), tx_id, value])
        for held_list, count in self.taken.items():
            if count is None:
                ops.append(["DEL", index(held_list)])
            else:
                ops.append(["LTRIM", index(held_list), str(count), "-1"])
        for held_list, elements in self.pushed.items():
            k = index(held_list)
            for i in range(0, len(elements), PUSH_SLICE):
                ops.append(["RPUSH", k, *(e.decode() for e in elements[i : i + PUSH_SLICE])])
        for account_id, info in self.parked.items():
            if info is None:
                ops.append(["HDEL", index(parked_key), account_id])
            else:
                ops.append(["HSET", index(parked_key), account_id, info.encode().decode()])
        if self.answer is not None:
            a = self.answer
            ops.append(["SET", index(a.result_key), a.result.decode(), "EX", str(a.ttl_s)])
        doc: dict[str, Any] = {"ops": ops}
        if self.guard is not None:
            doc["g"] = [[index(self.guard[0]), self.guard[1]]]
        return doc
