"""The connection limits of ``services.ingest.protocol``, in-process: uvicorn serving a
tiny app through the ``Guarded`` protocol on a loopback port, and the arithmetic of
``limits``. The attacks against the real service are in ``test_hostile.py``."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from services.cli.redis_process import free_port
from services.ingest import incidents
from services.ingest.__main__ import main
from services.ingest.incidents import Incidents
from services.ingest.limits import connection_cap
from services.ingest.protocol import protocol_class
from shared.errors import ConfigError
from shared.settings import Settings
from tests.polling import eventually, holds

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class App:
    """Answers ``200`` with the body's size once it is read; ``/busy`` waits for ``release``,
    ``/big`` answers 16 MiB."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.waiting = 0  # requests in /busy
        self.sending = 0  # answers of /big begun

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        size, more = 0, True
        while more:
            message = await receive()
            size, more = size + len(message.get("body", b"")), message.get("more_body", False)
        if scope["path"] == "/busy":
            self.waiting += 1
            await self.release.wait()
        if scope["path"] == "/big":
            self.sending += 1
            await send({"type": "http.response.start", "status": 200})
            for _ in range(256):
                await send({"type": "http.response.body", "body": bytes(65536), "more_body": True})
            await send({"type": "http.response.body"})
            return
        body = b"%d" % size
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def serving(app: App, cap: int, **limits: Any) -> AsyncIterator[int]:
    settings = Settings(**{"max_header_bytes": 8192} | limits)
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=protocol_class(settings, cap),
        ws="none",
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await eventually(lambda: holds(server.started))
    try:
        yield port
    finally:
        app.release.set()
        server.should_exit = True
        await task


async def connect(port: int, data: bytes = b"") -> Stream:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    return reader, writer


async def response(stream: Stream) -> bytes:
    """Everything the server writes until it closes."""
    reader, writer = stream
    try:
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def one_response(stream: Stream) -> bytes:
    """One response of a kept-alive connection (head and a short body)."""
    data = await asyncio.wait_for(stream[0].readuntil(b"\r\n\r\n"), 10)
    return data + await asyncio.wait_for(stream[0].read(100), 10)


def get(path: str, extra: bytes = b"") -> bytes:
    return b"GET %s HTTP/1.1\r\nHost: test\r\n%s\r\n" % (path.encode(), extra)


async def test_when_every_connection_is_busy_a_newcomer_gets_503_with_retry_after() -> None:
    app = App()
    async with serving(app, cap=2) as port:
        busy = [await connect(port, get("/busy")) for _ in range(2)]
        await eventually(lambda: holds(app.waiting == 2))
        refused = await response(await connect(port))
        assert refused.startswith(b"HTTP/1.1 503 ")
        assert b"\r\nretry-after: 1\r\n" in refused.lower()
        assert b"application/problem+json" in refused
        app.release.set()
        for stream in busy:  # the requests being answered were never cut
            assert (await one_response(stream)).startswith(b"HTTP/1.1 200 ")
            stream[1].close()


async def test_at_the_cap_the_connection_waiting_longest_for_its_request_makes_room() -> None:
    async with serving(App(), cap=2) as port:
        oldest = await connect(port, b"GET /slow HTTP/1.1\r\nX-Slow: ")
        younger = await connect(port, b"GET /slow HTTP/1.1\r\nX-Slow: ")
        newcomer = await connect(port, get("/"))
        assert (await one_response(newcomer)).startswith(b"HTTP/1.1 200 ")
        assert (await response(oldest)).startswith(b"HTTP/1.1 503 ")
        assert not younger[0].at_eof()
        for _, writer in (newcomer, younger):
            writer.close()


async def test_at_the_cap_an_idle_kept_alive_connection_is_closed_without_an_answer() -> None:
    async with serving(App(), cap=1) as port:
        idle = await connect(port, get("/"))
        assert (await one_response(idle)).startswith(b"HTTP/1.1 200 ")
        newcomer = await connect(port, get("/"))
        assert (await one_response(newcomer)).startswith(b"HTTP/1.1 200 ")
        assert await response(idle) == b""
        newcomer[1].close()


async def test_the_head_limit_counts_the_head_not_the_body_read_with_it() -> None:
    async with serving(App(), cap=10) as port:
        body = b"x" * 200_000  # one write: the first read holds the head and a body's start
        post = b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % len(body)
        accepted = await connect(port, post + body)
        assert (await one_response(accepted)).startswith(b"HTTP/1.1 200 ")
        large_head = await connect(port, get("/", b"X-Filler: " + b"a" * 9000 + b"\r\n"))
        near_limit = await connect(port, get("/", b"X-Filler: " + b"a" * 7000 + b"\r\n"))

        assert (await response(large_head)).startswith(b"HTTP/1.1 431 ")
        assert (await one_response(near_limit)).startswith(b"HTTP/1.1 200 ")
        for _, writer in (accepted, near_limit):
            writer.close()


async def test_an_answer_left_unread_is_dropped_and_frees_its_slot() -> None:
    app = App()
    async with serving(app, cap=1, body_timeout_s=0.5) as port:
        reader = socket.socket()
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.connect(("127.0.0.1", port))
        reader.sendall(get("/big"))  # and never reads
        await eventually(lambda: holds(app.sending == 1))

        async def served() -> bytes | None:
            answer = await response(await connect(port, get("/", b"Connection: close\r\n")))
            return answer if answer.startswith(b"HTTP/1.1 200 ") else None  # else 503: busy

        await eventually(served)
        reader.close()


def test_the_default_cap_leaves_descriptors_for_redis_and_the_rest() -> None:
    assert connection_cap(None, 1024) == 480  # (1024 - 64) // 2
    assert connection_cap(None, 1 << 20) == 1000
    assert connection_cap(300, 1024) == 300


def test_a_cap_the_descriptor_limit_cannot_hold_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="at least 1064"):
        connection_cap(500, 1024)
    with pytest.raises(ConfigError, match="ulimit -n"):
        connection_cap(None, 64)


def test_ingest_refuses_to_start_with_such_a_cap(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TXFLOW_MAX_CONNECTIONS", str(10**9))
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "TXFLOW_MAX_CONNECTIONS" in err


async def test_refusals_are_logged_once_per_episode_and_kind_then_counted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(incidents, "QUIET_S", 0.05)
    tally = Incidents(logging.getLogger("test.incidents"))
    with caplog.at_level(logging.INFO, logger="test.incidents"):
        for _ in range(100):
            tally.note("evicted")
        tally.note("headers too slow")
        await eventually(lambda: holds(len(caplog.records) == 3))

    first, second, last = (r.getMessage() for r in caplog.records)
    assert first.startswith("ingest: client limits: evicted")
    assert second == "ingest: client limits: headers too slow"
    assert "recovered after 101 failure(s)" in last
