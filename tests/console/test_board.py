"""What the console reads of the outcome log for its latency (real Redis, no service)."""

from __future__ import annotations

import orjson
import redis

from services.console.board import Board
from shared.keys import ShardKeys
from tests import config
from tests.worker.support import SHARDS, init


def commit(client: redis.Redis, shard: int, committed_ms: int, *accepted_ms: int) -> None:
    """An ``:out`` entry as a commit writes it, dated ``committed_ms``."""
    outcomes = [
        {"e": "1-1", "a": "a", "t": f"t{at}", "o": "applied", "at": at} for at in accepted_ms
    ]
    fields = {"ep": 1, "d": orjson.dumps(outcomes)}
    client.xadd(ShardKeys(shard).outbox, fields, id=f"{committed_ms}-0")


def test_latency_reads_the_first_commits_since_the_last_read_then_skips_to_the_end(
    redis_url: str,
) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    init(client)
    settings = config.settings(redis_url, shards=SHARDS, console_latency_commits=SHARDS)
    board = Board(settings)  # one commit per shard per read
    commit(client, 0, 1_000, 900)
    board.read(client)  # the first read only finds where each log ends
    assert list(board.history.points) == []
    commit(client, 0, 9_000, 4_000, 8_990)  # waited for a takeover: 5 s and 10 ms
    commit(client, 0, 9_500, 9_490)  # then caught up: 10 ms
    board.read(client)
    assert board.history.points[-1]["p99_ms"] > 4_900  # the takeover's, not missed
    board.read(client)
    assert board.history.points[-1]["p99_ms"] is None  # past the end: nothing new
    client.close()
