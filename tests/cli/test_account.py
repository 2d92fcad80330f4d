"""``txflow account ID`` as a user runs it: a table, or JSON, a page at a time."""

from __future__ import annotations

import json

import redis

from tests.cli.support import txflow
from tests.worker.support import SHARDS, drain, history, init


async def test_txflow_account_prints_state_and_history_table_or_json(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    init(client)
    client.close()
    ids = history(redis_url)
    await drain(redis_url)
    env = {"REDIS_URL": redis_url, "TXFLOW_SHARDS": str(SHARDS)}

    shown = txflow("account", "a", "--limit", "3", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "account a: available 0.0026, held 0.0100" in shown.stdout
    assert all(t in shown.stdout for t in ids[::-1][:3]) and "--cursor" in shown.stdout
    assert "insufficient_funds" not in shown.stdout  # w1 is on a later page

    doc = json.loads(txflow("account", "a", "--json", "--order", "oldest", env=env).stdout)
    assert [t["tx_id"] for t in doc["transactions"]] == ids
    assert doc["state"]["held"] == "0.0100" and doc["next_cursor"] is None

    missing = txflow("account", "nobody", env=env)
    assert missing.returncode == 1 and "no processed transaction" in missing.stderr
