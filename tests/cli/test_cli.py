"""The txflow command as a user runs it: up, replay through the services, errors."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
import redis

from services.cli.redis_process import RedisProcess, free_port
from services.cli.stack import LocalStack
from services.cli.up import banner
from tests.stack import wait_for
from tests.worker.support import init

TXFLOW = [sys.executable, "-m", "services.cli"]


def txflow(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TXFLOW, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})  # fmt: skip


def test_up_serves_applies_and_leaves_no_process_behind_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["TXFLOW_LEASE_TTL_MS"] = "1500"
    # As a user runs it: from a project directory, with the default ./.txflow data dir.
    up = subprocess.Popen([*TXFLOW, "up", "--port", str(port)], cwd=tmp_path, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    api = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _status(f"{api}/healthz") == 200, 60, "txflow up to answer /healthz")
        children = psutil.Process(up.pid).children(recursive=True)
        assert len(children) >= 4  # redis, ingest, two workers
        tx = {"tx_id": "t1", "account_id": "alice", "type": "deposit", "amount": "12.5"}
        assert httpx.post(f"{api}/v1/transactions", json=tx).status_code == 202
        wait_for(lambda: _status(f"{api}/v1/accounts/alice/transactions/t1") == 200, 30, "applied")
        assert httpx.get(f"{api}/v1/accounts/alice").json()["available"] == "12.5000"
        # a worker dies: up keeps running and the other one takes over its shards
        workers = [c for c in children if "services.worker" in " ".join(c.cmdline())]
        workers[0].kill()
        for n in range(20):  # accounts on every shard, so the dead worker's too
            tx = {"tx_id": "t2", "account_id": f"bob{n}", "type": "deposit", "amount": "1"}
            assert httpx.post(f"{api}/v1/transactions", json=tx).status_code == 202
        wait_for(lambda: all(_status(f"{api}/v1/accounts/bob{n}") == 200 for n in range(20)),
                 30, "the surviving worker to apply everything")  # fmt: skip
        assert up.poll() is None
        up.send_signal(signal.SIGINT)
        assert up.wait(30) == 0
        assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        assert (tmp_path / ".txflow" / "redis" / "appendonlydir").is_dir()  # state kept
    finally:
        if up.poll() is None:
            up.kill()
        assert up.stdout is not None
        up.stdout.close()


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


@pytest.mark.parametrize("seed", [11, 12])
def test_replay_through_the_services_equals_the_memory_engine(
    seed: int, tmp_path: Path, redis_factory: Callable[..., RedisProcess]
) -> None:
    path = tmp_path / "in.csv"
    write_mixed(path, rows=4000, clients=300, seed=seed)
    server = redis_factory()
    memory = txflow("replay", "--engine", "memory", str(path))
    services = txflow("replay", str(path), env={"REDIS_URL": server.url})
    assert memory.returncode == 0 and services.returncode == 0, services.stderr
    assert services.stdout == memory.stdout
    assert len(memory.stdout.splitlines()) > 250


def write_mixed(path: Path, rows: int, clients: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w") as f:
        f.write("type, client, tx, amount\n")
        for n in range(1, rows + 1):
            client = rng.randrange(clients)
            roll = rng.random()
            if roll < 0.55:
                f.write(
                    f"deposit, {client}, {n}, {rng.randrange(1, 500)}.{rng.randrange(100):02d}\n"
                )
            elif roll < 0.8:
                f.write(f"withdrawal, {client}, {n}, {rng.randrange(1, 300)}\n")
            elif roll < 0.97:
                kind = rng.choice(["dispute", "resolve", "chargeback"])
                f.write(f"{kind}, {client}, {rng.randrange(1, n + 1)},\n")
            else:
                f.write("deposit, oops\n")


def test_a_missing_file_is_one_line_and_a_non_zero_exit() -> None:
    done = txflow("replay", "--engine", "memory", "/no/such.csv")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "/no/such.csv" in done.stderr


def test_unreachable_redis_is_one_line_and_a_non_zero_exit() -> None:
    done = txflow("status", env={"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "cannot reach Redis" in done.stderr


def test_a_bad_flag_is_a_usage_error_without_traceback() -> None:
    done = txflow("replay", "--engine", "quantum", "x.csv")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "invalid choice: 'quantum'" in done.stderr


def test_status_lists_every_shard_and_json_is_machine_readable(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    init(client, shards=4)
    done = txflow("status", "--json", env={"REDIS_URL": redis_url})
    assert done.returncode == 0, done.stderr
    snap = json.loads(done.stdout)
    assert [r["shard"] for r in snap["shards"]] == [0, 1, 2, 3]
    assert all(r["owner"] is None and r["dlq"] == 0 for r in snap["shards"])
    server = urlsplit(redis_url).netloc  # one Redis: every shard is on it
    assert {r["node"] for r in snap["shards"]} == {server}
    table = txflow("status", env={"REDIS_URL": redis_url, "COLUMNS": "160"})
    assert table.returncode == 0 and "shards" in table.stdout and server in table.stdout


def test_load_posts_a_workload_and_reports_what_was_applied(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path / "redis").start()
    stack = LocalStack(workers=2, port=free_port(), redis_url=server.url, data_dir=tmp_path)
    try:
        with stack:
            done = txflow("load", "--api", stack.api, "--count", "3000", "--accounts", "50",
                          "--seed", "7", "--json", env={"REDIS_URL": server.url})  # fmt: skip
            assert done.returncode == 0, done.stderr
            summary = json.loads(done.stdout)
            assert summary["transactions"] == 3000
            assert sum(summary["outcomes"].values()) == 3000
            assert summary["outcomes"]["applied"] > 1000
            assert any(name.startswith("rejected: ") for name in summary["outcomes"])
            assert summary["latency_ms"]["p50"] <= summary["latency_ms"]["p99"]
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("token", "says"),
    [
        ("", "auth: off (TXFLOW_API_TOKEN unset or blank)"),
        (" \r", "auth: off (TXFLOW_API_TOKEN unset or blank)"),
        ("s3cret", "auth: bearer token required"),
    ],
)
def test_up_says_whether_the_api_needs_the_token(
    monkeypatch: pytest.MonkeyPatch, token: str, says: str
) -> None:
    monkeypatch.setenv("TXFLOW_API_TOKEN", token)
    shown = banner(LocalStack(redis_url="redis://127.0.0.1:1/0"))
    assert f"  {says}" in shown.splitlines()
    assert "s3cret" not in shown
