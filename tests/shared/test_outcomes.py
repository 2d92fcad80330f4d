"""Reading the outcome log: one ``:out`` entry per commit."""

from __future__ import annotations

import orjson

from shared.outcomes import unpack


def test_an_entry_unpacks_to_its_outcomes_in_order_each_with_its_epoch() -> None:
    docs = [{"e": "1-0", "a": "a", "t": "1", "o": "applied"}, {"e": "2-0", "a": "a", "t": "1"}]
    for fields in (
        {b"ep": b"7", b"d": orjson.dumps(docs)},  # as a bytes client returns them
        {"ep": "7", "d": orjson.dumps(docs).decode()},  # decode_responses=True
    ):
        found = unpack(fields)
        assert [d["e"] for d in found] == ["1-0", "2-0"]
        assert {d["ep"] for d in found} == {7}


def test_an_entry_of_one_outcome_from_before_batched_entries_still_reads() -> None:
    fields = {b"ep": b"2", b"d": orjson.dumps({"e": "1-0", "a": "a", "t": "1", "o": "applied"})}
    assert unpack(fields) == [{"e": "1-0", "a": "a", "t": "1", "o": "applied", "ep": 2}]
