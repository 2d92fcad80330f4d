"""Commands packed by ``shared.resp`` are byte for byte what redis-py sends."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from redis.connection import Connection

from shared.resp import pack

args = st.lists(st.one_of(st.text(), st.binary(), st.integers()), max_size=20)


@given(args)
def test_pack_equals_redis_py_packing(values: list[str | bytes | int]) -> None:
    # (A command name first: redis-py splits its first argument on spaces.)
    expected = b"".join(Connection().pack_command("EVALSHA", *values))
    assert pack("EVALSHA", *values) == expected


def test_lengths_of_text_are_counted_in_bytes() -> None:
    assert pack("é") == b"*1\r\n$2\r\n\xc3\xa9\r\n"
