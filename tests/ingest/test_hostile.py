"""One client must not take ingest down for the others: each attack against a real
ingest process (``hostile.Ingest``: short limits, RLIMIT_NOFILE 160), with health
checks polled throughout and answering ``200`` every time.

The attacks are the ones reproduced against the service, scaled down to stay
bounded in time and count: a header streamed without end, more slow connections
than the descriptors allow, a head or a body sent a byte at a time, a kept-alive
connection fed blank lines.
"""

from __future__ import annotations

import re
import socket
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from services.cli.redis_process import RedisProcess
from services.ingest.incidents import QUIET_S
from services.ingest.limits import connection_cap
from shared.keys import ShardKeys
from tests.ingest.hostile import NOFILE, Ingest, answer, answered, probing, status_of
from tests.polling import wait_for

RSS_GROWTH_BOUND = 16 * 1024 * 1024
"""What three oversized heads may add to the ingest's RSS (8 KiB each are refused)."""

ENDED = "ingest: client limits: recovered after"

RECONNECTS_PER_ROUND = 5
"""Slow clients reconnect at 25 a second here: a client opening more than the cap's
worth within the milliseconds a request takes to read is a connection flood, a
matter for the network's defences (README, "Limits")."""

HEADER_BUDGET = 16 * 1024 * 1024
"""The most one attacking connection streams before giving up on being refused."""


@pytest.fixture(scope="module")
def ingest(
    shared_redis: RedisProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Ingest]:
    with redis.Redis.from_url(shared_redis.url) as client:
        client.flushall()
    with Ingest.running(shared_redis.url, tmp_path_factory.mktemp("hostile")) as running:
        yield running


def stream_header(ingest: Ingest) -> tuple[int, bytes]:
    """A header that never ends, 64 KiB at a time, until the server answers or closes
    (or ``HEADER_BUDGET`` is sent): the bytes sent, and the answer."""
    sock = ingest.connect()
    sock.sendall(b"POST /v1/transactions HTTP/1.1\r\nHost: ingest\r\nX-Filler: ")
    chunk, sent = b"a" * 65536, 0
    while sent < HEADER_BUDGET and not answered(sock):
        try:
            sock.sendall(chunk)
        except OSError:  # reset: refused while we were sending
            break
        sent += len(chunk)
    return sent, answer(sock)


def test_headers_streamed_without_end_are_refused_431_and_memory_stays_bounded(
    ingest: Ingest,
) -> None:
    rss_before = ingest.rss()
    with probing(ingest) as probe, ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: stream_header(ingest), range(3)))
        wait_for(lambda: probe.count() >= 3, 10, "health checks during the attack")

    for sent, response in results:
        assert sent < HEADER_BUDGET, "the server kept reading the header"
        assert status_of(response) in (431, None), response[:200]  # None: reset after the 431
    assert any(status_of(response) == 431 for _, response in results)
    assert probe.rss_peak - rss_before < RSS_GROWTH_BOUND
    probe.assert_healthy()


def test_a_complete_head_over_the_limit_is_431(ingest: Ingest) -> None:
    sock = ingest.connect()
    filler = b"X-Filler: " + b"a" * 100 + b"\r\n"
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: ingest\r\n" + filler * 100 + b"\r\n")
    response = answer(sock)
    assert status_of(response) == 431
    assert b"application/problem+json" in response


def test_slow_connections_beyond_the_cap_are_refused_and_health_checks_answer(
    ingest: Ingest,
) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: ingest\r\nX-Slow: "
    socks: list[socket.socket] = []
    statuses: Counter[int | str | None] = Counter()

    def open_one() -> None:
        try:
            sock = ingest.connect()
            sock.sendall(head)
            socks.append(sock)
        except OSError:
            statuses["connect failed"] += 1

    def attack() -> bool:
        """One round: count what the server ended, reopen a few, one more byte on each."""
        for sock in [s for s in socks if answered(s)]:
            socks.remove(sock)
            statuses[status_of(answer(sock))] += 1
        for _ in range(min(RECONNECTS_PER_ROUND, NOFILE - len(socks))):
            open_one()
        for sock in socks:
            try:
                sock.send(b"a")
            except OSError:
                pass  # closed by the server: counted next round
        return probe.count() >= 10

    log_from, episodes = len(ingest.log()), ingest.log().count(ENDED)
    for _ in range(NOFILE):  # at once: without the cap, every descriptor of the process
        open_one()
    with probing(ingest) as probe:
        wait_for(attack, 30, "10 health checks during the attack", every=0.2)
    for sock in socks:
        sock.close()

    probe.assert_healthy()
    assert statuses[503] >= NOFILE - connection_cap(None, NOFILE)  # the surplus of the burst
    # Logged once per episode and kind of refusal, then once with the count.
    wait_for(lambda: ingest.log().count(ENDED) > episodes, QUIET_S + 10, "the episode's end")
    lines = [line for line in ingest.log()[log_from:].splitlines() if "client limits:" in line]
    assert any("at the cap of 48 connections" in line for line in lines)
    assert len(lines) <= 4 < sum(statuses.values())
    refusals = int(re.search(r"recovered after (\d+) failure", lines[-1])[1])  # type: ignore[index]
    assert refusals >= statuses[503]


def drip(ingest: Ingest, sock: socket.socket, data: bytes) -> bytes:
    """Send ``data`` a byte at a time until the server answers or closes; its answer."""
    rest = iter(data)

    def sent_or_answered() -> bool:
        if answered(sock):
            return True
        sock.send(bytes([next(rest)]))
        return False

    with probing(ingest) as probe:
        wait_for(sent_or_answered, 15, "the server to end a slow request", every=0.2)
        wait_for(lambda: probe.count() >= 3, 10, "health checks during the attack")
    probe.assert_healthy()
    return answer(sock)


def test_a_head_sent_a_byte_at_a_time_is_answered_408(ingest: Ingest) -> None:
    sock = ingest.connect()
    sock.sendall(b"GET /healthz HTTP/1.1\r\n")
    response = drip(ingest, sock, b"X-Slow: " + b"a" * 1000)
    assert status_of(response) == 408


def test_a_body_sent_a_byte_at_a_time_is_answered_408(ingest: Ingest) -> None:
    sock = ingest.connect()
    sock.sendall(
        b"POST /v1/transactions HTTP/1.1\r\nHost: ingest\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    response = drip(ingest, sock, b" " * 1000)
    assert status_of(response) == 408
    with redis.Redis.from_url(ingest.redis_url) as client:
        assert sum(client.xlen(ShardKeys(s).inbox) for s in range(4)) == 0


def test_a_kept_alive_connection_fed_blank_lines_is_closed(ingest: Ingest) -> None:
    sock = ingest.connect()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: ingest\r\n\r\n")
    wait_for(lambda: answered(sock), 10, "the health check's answer")
    assert status_of(sock.recv(65536)) == 200
    response = drip(ingest, sock, b"\r\n" * 1000)  # blank lines before a request line
    assert status_of(response) in (408, None)


def test_an_idle_kept_alive_connection_is_closed(ingest: Ingest) -> None:
    with ingest.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: ingest\r\n\r\n")
        wait_for(lambda: answered(sock), 10, "the health check's answer")
        assert status_of(sock.recv(65536)) == 200
        wait_for(lambda: answered(sock) and sock.recv(1) == b"", 15, "the idle connection's end")
