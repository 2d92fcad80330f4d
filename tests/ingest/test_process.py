"""The real entry point: ``python -m services.ingest`` and its preflight."""

from __future__ import annotations

import logging

import httpx
import pytest
import redis

from services.cli.redis_process import free_port
from services.ingest.__main__ import main
from shared import keys
from shared.keys import ShardKeys
from shared.model import Tx
from shared.sharding import shard_of
from tests.apps import deposit, ingest_process


def test_service_process_accepts_a_transaction_and_stops_cleanly(redis_url: str) -> None:
    with ingest_process(redis_url) as ingest:
        response = httpx.post(f"{ingest.base}/v1/transactions", json=deposit("t1"), timeout=5)
        assert response.status_code == 202
        client = redis.Redis.from_url(redis_url)
        [(entry_id, fields)] = client.xrange(ShardKeys(shard_of("alice", 4)).inbox)
        client.close()
        assert entry_id.decode() == response.json()["stream_id"]
        assert Tx.decode(fields[b"d"]).tx_id == "t1"
    # A blank token turns auth off: the service says so, in one line, at start.
    assert "auth: off (TXFLOW_API_TOKEN unset or blank)" in ingest.stderr


def test_service_process_says_auth_is_on_when_a_token_is_set(redis_url: str) -> None:
    with ingest_process(redis_url, TXFLOW_API_TOKEN="s3cret") as ingest:
        response = httpx.post(f"{ingest.base}/v1/transactions", json=deposit("t1"), timeout=5)
        assert response.status_code == 401
    assert "auth: bearer token required" in ingest.stderr
    assert "s3cret" not in ingest.stderr


def test_shard_count_mismatch_is_one_line_and_exit_2(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.hset(keys.META, "shards", 8)
    client.close()
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("TXFLOW_SHARDS", "4")

    assert main(["--port", "0"]) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "TXFLOW_SHARDS=8" in err
    assert "Traceback" not in err


def test_unreachable_redis_is_waited_for_then_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    caplog.set_level(logging.WARNING, logger="txflow.ingest")

    assert main(["--redis-wait", "0.5"]) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unreachable" in err
    assert any("waiting for Redis at" in r.getMessage() for r in caplog.records)
    assert "hunter2" not in err + caplog.text  # the password never reaches a log


def test_invalid_settings_are_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TXFLOW_SHARDS", "many")
    assert main([]) == 2
    assert capsys.readouterr().err.count("\n") == 1
