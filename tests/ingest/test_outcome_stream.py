"""``GET /v1/outcomes``: Server-Sent Events of the commits, resumable across ingest restarts.

The resume test runs real processes (``tests.stack``): ingest, a worker, and a
SIGKILLed ingest replaced by another. The bounds are checked in-process.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from services.ingest.outbox import Outboxes
from services.ingest.stream import _END, Streams
from shared import keys
from shared.store import connect
from tests import config
from tests.apps import Api, assert_problem
from tests.polling import wait_for
from tests.stack import Stack

SHARDS = 4


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(redis_url, tmp_path / "logs", shards=SHARDS, settings={"TXFLOW_MAX_STREAMS": "2"})
    yield s
    s.stop_all()


def deposits(prefix: str, n: int) -> list[dict[str, str]]:
    return [
        {"tx_id": f"{prefix}{i}", "account_id": f"acct{i % 7}", "type": "deposit", "amount": "1"}
        for i in range(n)
    ]


def post(api: str, txs: list[dict[str, str]]) -> None:
    for start in range(0, len(txs), 25):  # several requests: several commits
        r = httpx.post(f"{api}/v1/transactions/batch", json=txs[start : start + 25], timeout=10)
        assert r.status_code == 202, r.text


class Events:
    """An open stream, read event by event (``id``, ``event``, data)."""

    def __init__(self, api: str, last_id: str | None = None, query: str = "") -> None:
        headers = {} if last_id is None else {"last-event-id": last_id}
        self._client = httpx.Client(timeout=10)
        self._response = self._client.send(
            self._client.build_request("GET", f"{api}/v1/outcomes{query}", headers=headers),
            stream=True,
        )
        self.status = self._response.status_code
        self._lines = self._response.iter_lines()

    def next(self) -> tuple[str | None, str | None, Any]:
        fields: dict[str, str] = {}
        for line in self._lines:
            if not line:
                if "data" in fields or "retry" in fields:
                    break
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        data = fields.get("data")
        return fields.get("id"), fields.get("event"), None if data is None else orjson.loads(data)

    def close(self) -> None:
        self._response.close()
        self._client.close()


def committed(client: redis.Redis, n: int) -> bool:
    total = 0
    for k in keys.shard_keys(SHARDS):
        total += int(client.get(k.committed) or 0)
    return total >= n


@pytest.mark.slow
def test_a_client_resuming_after_an_ingest_restart_misses_nothing_and_gets_nothing_twice(
    stack: Stack, redis_url: str
) -> None:
    api = stack.start_ingest()
    stack.start_worker("w1")
    first = Events(api)
    assert first.status == 200
    assert first.next()[0] is None  # "retry:": the stream has its start position
    before, after = deposits("a", 150), deposits("b", 150)
    post(api, before)
    last_id, kind, data = first.next()
    assert kind == "outcomes" and last_id is not None
    seen = [(o["account_id"], o["tx_id"]) for o in data["outcomes"]]
    before_id = set(seen)  # what the first event held: not to be sent again
    assert data["outcomes"][0]["account"] is not None  # the state after it
    first.close()

    stack.signal("ingest", signal.SIGKILL)
    stack.procs["ingest"].wait()
    api = stack.start_ingest()  # another process: the position is all it knows
    post(api, after)
    client = redis.Redis.from_url(redis_url)
    wait_for(lambda: committed(client, 300), 30, "every transaction committed")
    client.close()

    resumed = Events(api, last_id)
    resumed.next()  # retry:
    while len(seen) < 300:
        _, kind, data = resumed.next()
        assert kind == "outcomes"
        seen += [(o["account_id"], o["tx_id"]) for o in data["outcomes"]]
    resumed.close()
    expected = {(t["account_id"], t["tx_id"]) for t in before + after}
    assert len(seen) == len(expected) and set(seen) == expected

    # Only one account's, from the same position; and a third stream is refused (max 2).
    mine = Events(api, last_id, "?account=acct3")
    mine.next()
    other, third = Events(api), Events(api)
    assert third.status == 503
    wanted = {t for a, t in expected - before_id if a == "acct3"}
    ids: list[str] = []
    while len(ids) < len(wanted):
        _, _, data = mine.next()
        assert {o["account_id"] for o in data["outcomes"]} == {"acct3"}
        ids += [o["tx_id"] for o in data["outcomes"]]
    assert sorted(ids) == sorted(wanted)
    for stream in (mine, other, third):
        stream.close()


async def test_a_malformed_last_event_id_is_422(api: Api) -> None:
    r = await api.http.get("/v1/outcomes", headers={"last-event-id": "1-0,2-0"})
    assert_problem(r, 422)


class FakeOutboxes:
    """Every read finds ``per_read`` commits of one outcome each on shard 0."""

    def __init__(self, per_read: int) -> None:
        self.per_read = per_read
        self.n = 0

    async def read(self, positions: list[str], *, block_ms: int, count: int) -> list[Any]:
        commits = []
        for _ in range(self.per_read):
            self.n += 1
            o = {"a": "x", "t": str(self.n), "y": "deposit", "o": "applied", "e": f"{self.n}-0"}
            commits.append((0, f"{self.n}-0", [o]))
        positions[0] = commits[-1][1]
        return commits


async def test_a_client_slower_than_its_buffer_is_cut_after_the_buffered_events() -> None:
    streams = Streams(FakeOutboxes(5), max_streams=1, buffer=3, block_ms=1, deadline_s=1)  # type: ignore[arg-type]
    queue: asyncio.Queue[Any] = asyncio.Queue(4)
    await asyncio.wait_for(streams._read(["0-0", "0-0"], None, queue), 5)
    items = [queue.get_nowait() for _ in range(queue.qsize())]
    assert items[-1] is _END and len(items) == 4
    assert [item.split(b"\n")[0] for item in items[:3]] == [
        b"id: 1-0,0-0",
        b"id: 2-0,0-0",
        b"id: 3-0,0-0",
    ]


async def test_a_position_the_log_has_trimmed_past_is_reported_lost(redis_url: str) -> None:
    client = connect(config.settings(redis_url), decode_responses=True)
    outboxes = Outboxes(client, 2)
    ids = [await client.xadd(outboxes.keys[1], {"d": "[]"}) for _ in range(3)]
    assert await outboxes.trimmed(["0-0", "0-0"]) == []  # nothing trimmed yet
    await client.xtrim(outboxes.keys[1], maxlen=1, approximate=False)  # ids[2] kept
    assert await outboxes.trimmed(["0-0", ids[2]]) == []
    assert await outboxes.trimmed(["0-0", ids[0]]) == [(1, ids[2])]  # ids[1] is lost
    await client.aclose()
