"""The baselines' client: hiredis-packed commands written on a plain socket.

What a hand-written client does at best: every command packed by hiredis (C),
a whole pipeline sent with one ``sendall`` and its replies parsed by
``hiredis.Reader``; no connection pool, no asyncio, no per-command objects.
Every raw baseline of RESULTS.md is one of the loops below.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import hiredis

Row = tuple[str, bytes]  # (inbox stream, the entry's field ``d``)
pack = hiredis.pack_command


class Conn:
    """One connection; ``call`` sends packed commands and returns their replies, in order."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port or 6379))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader()

    def call(self, packed: bytes, replies: int) -> list[Any]:
        self.sock.sendall(packed)
        out: list[Any] = []
        while len(out) < replies:
            reply = self.reader.gets()
            if reply is False:
                self.reader.feed(self.sock.recv(1 << 20))
            elif isinstance(reply, hiredis.ReplyError):
                raise reply
            else:
                out.append(reply)
        return out


def xadds(rows: Sequence[Row]) -> bytes:
    """``XADD <inbox> * d <data>`` for each row: the command the ingest sends."""
    return b"".join([pack(("XADD", inbox, "*", "d", data)) for inbox, data in rows])


def read_all(group: str, inboxes: Sequence[str], count: int) -> bytes:
    """One XREADGROUP of up to ``count`` new entries from each of ``inboxes``."""
    streams = [*inboxes, *[">"] * len(inboxes)]
    return pack(("XREADGROUP", "GROUP", group, "bench", "COUNT", count, "STREAMS", *streams))


def acks(group: str, reply: Any) -> tuple[bytes, int]:
    """The XACKs of every entry an XREADGROUP ``reply`` delivered, and how many entries."""
    reply = reply or ()
    packed = [pack(("XACK", stream, group, *[i for i, _ in entries])) for stream, entries in reply]
    return b"".join(packed), sum(len(entries) for _, entries in reply)


def groups(conn: Conn, inboxes: Sequence[str], group: str, create: bool) -> None:
    """Create ``group`` at the start of every inbox, or destroy it (its pending list too)."""
    verb = ("CREATE", "0") if create else ("DESTROY",)
    conn.call(
        b"".join(pack(("XGROUP", verb[0], i, group, *verb[1:])) for i in inboxes), len(inboxes)
    )


def bare_loop(conn: Conn, inboxes: Sequence[str], group: str, count: int) -> int:
    """Read and ack every inbox until nothing is new; no work per message.

    Each round trip acks what the previous read delivered and reads the next
    ``count`` entries of every inbox: one write, one wait.
    """
    read, ack, owed, done = read_all(group, inboxes, count), b"", 0, 0
    while True:
        *_, reply = conn.call(ack + read, owed + 1)
        if not reply:
            return done
        ack, got = acks(group, reply)
        owed, done = len(reply), done + got


def one_at_a_time(conn: Conn, inboxes: Sequence[str], group: str, per_inbox: int) -> int:
    """Inbox after inbox, ``per_inbox`` times: XREADGROUP COUNT 1, then XACK of it."""
    done = 0
    for inbox in inboxes:
        read = read_all(group, [inbox], 1)
        for _ in range(per_inbox):
            (reply,) = conn.call(read, 1)
            conn.call(acks(group, reply)[0], 1)
            done += 1
    return done


def pipeline(conn: Conn, inboxes: Sequence[str], group: str, rows: Sequence[Row]) -> int:
    """XADD ``rows`` 1,000 at a time while reading and acking them: the raw end to end.

    Every round trip carries the next 1,000 XADDs, the XACKs of what the last
    read delivered and a read of up to 500 new entries per inbox.
    """
    read, ack, owed, sent, done = read_all(group, inboxes, 500), b"", 0, 0, 0
    while done < len(rows):
        batch = rows[sent : sent + 1_000]
        *_, reply = conn.call(xadds(batch) + ack + read, len(batch) + owed + 1)
        sent += len(batch)
        ack, got = acks(group, reply)
        owed, done = len(reply or ()), done + got
    conn.call(ack, owed)
    return done


def xadd_window(
    conn: Conn, batches: Sequence[Sequence[Row]], warmup_s: float, measure_s: float
) -> tuple[int, int]:
    """Pipelines of XADDs, batch after batch: entries whose reply came in the window, and all."""
    start = time.monotonic()
    t0, t1 = start + warmup_s, start + warmup_s + measure_s
    counted = total = k = 0
    while time.monotonic() < t1:
        batch = batches[k % len(batches)]
        conn.call(xadds(batch), len(batch))
        k, total = k + 1, total + len(batch)
        if t0 <= time.monotonic() < t1:
            counted += len(batch)
    return counted, total
