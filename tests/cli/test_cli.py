"""The txflow command as a user runs it: up, replay through the services, errors."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
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
from shared.settings import Settings
from tests.cli.support import TXFLOW, txflow, without_redis_url, write_mixed
from tests.polling import wait_for
from tests.worker.support import init


def test_up_serves_applies_and_leaves_no_process_behind_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["TXFLOW_LEASE_TTL_MS"] = "1500"
    # As a user runs it: from a project directory, with the default ./.txflow data dir.
    up = subprocess.Popen(
        [*TXFLOW, "up", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
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
        wait_for(
            lambda: all(_status(f"{api}/v1/accounts/bob{n}") == 200 for n in range(20)),
            30,
            "the surviving worker to apply everything",
        )
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


def test_up_holds_its_data_dir_lists_its_pids_and_trusts_only_its_own_ingest(
    tmp_path: Path,
) -> None:
    port = free_port()
    out = tmp_path / "up.out"
    argv = [*TXFLOW, "up", "--port", str(port)]
    with out.open("wb") as sink:
        first = subprocess.Popen(
            argv, cwd=tmp_path, env=without_redis_url(), stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        wait_for(lambda: "Ctrl-C stops everything" in out.read_text(), 60, "txflow up's banner")
        listed = out.read_text().split("  pids ", 1)[1].split("\n", 1)[0].split()
        pids = dict(zip(listed[::2], map(int, listed[1::2]), strict=True))
        running = psutil.Process(first.pid).children(recursive=True)
        workers = {c.pid for c in running if "services.worker" in " ".join(c.cmdline())}
        assert {pids["worker-1"], pids["worker-2"]} == workers
        assert pids["redis"] in {c.pid for c in running}
        # the same directory: refused in one line naming the first, nothing started
        second = txflow("up", "--port", str(free_port()), cwd=tmp_path, env={}, timeout=60)
        assert second.returncode != 0 and "txflow is up" not in second.stdout
        assert f"another txflow up (pid {first.pid}) is running on .txflow" in second.stderr
        # another directory on the same port: the first's ingest answers, but it is not ours
        third = txflow("up", "--port", str(port), "--data-dir", "other", cwd=tmp_path, timeout=60)
        assert third.returncode != 0 and "txflow is up" not in third.stdout, third.stdout
        assert "ingest exited" in third.stderr
        assert first.poll() is None
        # without REDIS_URL, the other commands use what this up recorded, and say so
        redis_url = read_json(tmp_path / ".txflow" / "up.json")["redis_url"]
        said = f"REDIS_URL is not set: using {redis_url} of the txflow up (pid {first.pid})"
        status = txflow("status", "--json", cwd=tmp_path)
        assert status.returncode == 0 and said in status.stderr, status.stderr
        assert len(json.loads(status.stdout)["shards"]) == 16
        load = txflow("load", "--count", "300", "--accounts", "5", "--json", cwd=tmp_path)
        assert load.returncode == 0 and said in load.stderr, load.stderr
        assert sum(json.loads(load.stdout)["outcomes"].values()) == 300  # read from its Redis
        (tmp_path / "in.csv").write_text("deposit,1,1,5\n")
        replayed = txflow("replay", "in.csv", cwd=tmp_path)
        assert replayed.returncode == 0 and f"ingest of that txflow up, http://127.0.0.1:{port}"
        assert "1 rows read, 1 applied, 0 rejected, 0 skipped" in replayed.stderr
        letters = txflow("dlq", "show", "1-1", cwd=tmp_path)
        assert letters.returncode == 1 and said in letters.stderr
        assert f"no dead letter with id 1-1 (at {redis_url})" in letters.stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(30)


def read_json(path: Path) -> dict[str, str]:
    doc: dict[str, str] = json.loads(path.read_text())
    return doc


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP], ids=["kill-9", "sighup"])
def test_no_child_of_up_outlives_a_kill_9_of_up_or_its_closed_terminal(
    tmp_path: Path, sig: signal.Signals
) -> None:
    port = free_port()
    argv = [*TXFLOW, "up", "--port", str(port)]
    up = subprocess.Popen(argv, cwd=tmp_path, env=without_redis_url(), stdout=subprocess.DEVNULL)
    children: list[psutil.Process] = []
    try:
        wait_for(lambda: _status(f"http://127.0.0.1:{port}/readyz") == 200, 60, "txflow up")
        children = psutil.Process(up.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "services.ingest" in names and "services.worker" in names
        assert "redis-server" in names or "valkey-server" in names
        up.send_signal(sig)  # SIGKILL: no clean-up runs in txflow up
        assert up.wait(30) == (-9 if sig == signal.SIGKILL else 0)  # SIGHUP: a clean stop
        wait_for(lambda: not [c for c in children if _alive(c)], 30, "every child to exit")
    finally:
        for child in [up.pid, *children]:  # whatever a failure left behind
            with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
                (child if isinstance(child, psutil.Process) else psutil.Process(child)).kill()


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


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
    assert memory.returncode == services.returncode == 3, services.stderr  # rows were skipped
    assert services.stdout == memory.stdout
    assert len(memory.stdout.splitlines()) > 250
    # the same summary: outcomes counted from the :out streams equal the memory ledger's
    assert services.stderr.splitlines()[-1] == memory.stderr.splitlines()[-1]
    assert " rejected, " in memory.stderr.splitlines()[-1]


def test_replay_through_the_services_skips_what_the_csv_reader_refuses(
    tmp_path: Path, redis_factory: Callable[..., RedisProcess]
) -> None:
    path = tmp_path / "in.csv"
    path.write_text(f'deposit,1,1,5\ndeposit,1,"2,9\ndeposit,1,{"7" * 200_000},1\ndeposit,1,4,2\n')
    server = redis_factory()
    done = txflow("replay", str(path), env={"REDIS_URL": server.url})
    assert done.returncode == 3 and "Traceback" not in done.stderr, done.stderr
    assert done.stdout.splitlines()[1:] == ["1,7.0000,0.0000,7.0000,false"]
    assert "line 2: skipped: a quote is not closed" in done.stderr
    assert "line 3: skipped: field larger than field limit" in done.stderr
    assert done.stderr.splitlines()[-1] == (
        "txflow replay: 4 rows read, 2 applied, 0 rejected, 2 skipped"
    )
    path.write_bytes("deposit,Jos\u00e9,1,5\n".encode("latin-1"))
    done = txflow("replay", str(path), env={"REDIS_URL": server.url})
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "line 1 is not utf-8-sig" in done.stderr and "--encoding" in done.stderr


def test_a_stack_that_fails_to_start_shows_the_end_of_the_failing_process_log(
    redis_url: str,
) -> None:
    init(redis.Redis.from_url(redis_url), shards=4)  # deployed with 4 shards; the stack asks 16
    done = txflow("replay", "--engine", "services", "/dev/null", env={"REDIS_URL": redis_url})
    assert done.returncode == 1 and "Traceback" not in done.stderr.split("---")[0]
    assert "exited with status 2" in done.stderr
    assert "has 4 shards (txflow:meta) but TXFLOW_SHARDS=16" in done.stderr, done.stderr


def test_a_missing_file_is_one_line_and_a_non_zero_exit() -> None:
    done = txflow("replay", "--engine", "memory", "/no/such.csv")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "/no/such.csv" in done.stderr


def test_nothing_deployed_says_where_it_looked(redis_url: str) -> None:
    done = txflow("status", env={"REDIS_URL": redis_url})
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "nothing was deployed on this Redis yet" in done.stderr
    assert done.stderr.rstrip().endswith(f"(at {redis_url})")


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
            args = "--count 3000 --accounts 50 --seed 7 --json".split()
            done = txflow("load", "--api", stack.api, *args, env={"REDIS_URL": server.url})
            assert done.returncode == 0, done.stderr
            summary = json.loads(done.stdout)
            assert summary["transactions"] == 3000
            assert sum(summary["outcomes"].values()) == 3000
            assert summary["outcomes"]["applied"] > 1000
            assert any(name.startswith("rejected: ") for name in summary["outcomes"])
            assert summary["latency_ms"]["p50"] <= summary["latency_ms"]["p99"]
            # --wait: one POST per transaction, each answered with its outcome
            args = "--count 200 --accounts 20 --seed 8 --wait 10 --concurrency 8 --json".split()
            waited = txflow("load", "--api", stack.api, *args)
            assert waited.returncode == 0, waited.stderr
            found = json.loads(waited.stdout)
            assert found["decided_in_time"] == 200 and found["not_decided_202"] == 0
            assert sum(found["outcomes"].values()) == 200 and found["outcomes"]["applied"] > 50
            assert found["sync_latency_ms"]["p50"] <= found["sync_latency_ms"]["p99"]
    finally:
        server.stop()


def test_every_http_command_sends_the_token_and_says_in_one_line_when_refused(
    tmp_path: Path, redis_factory: Callable[..., RedisProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "in.csv"
    path.write_text("deposit,1,1,5\nwithdrawal,1,2,2\n")
    server = redis_factory()
    token = {"TXFLOW_API_TOKEN": "s3cret", "REDIS_URL": server.url}
    # replay's own stack inherits the token; replay sends it
    done = txflow("replay", str(path), env=token)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == ["1,3.0000,0.0000,3.0000,false"]
    monkeypatch.setenv("TXFLOW_API_TOKEN", "s3cret")  # the stack's children get it
    with LocalStack(workers=1, port=free_port(), redis_url=server.url, data_dir=tmp_path) as stack:
        api = ["--api", stack.api]
        load = ["load", *api, "--count", "200", "--accounts", "5", "--json"]
        assert txflow(*load, env=token).returncode == 0
        refused = txflow(*load, "--token", "wrong", env={"REDIS_URL": server.url})
        refused_waiting = txflow(*load, "--wait", "1", "--token", "wrong", env={})
        blind = txflow(*load, env={"TXFLOW_API_TOKEN": "s3cret"}, cwd=tmp_path)  # no REDIS_URL
        no_token = {"TXFLOW_API_TOKEN": ""}  # blank: none (this process has it, for the stack)
        missing = txflow("replay", *api, str(path), env=no_token)
        passed = txflow("replay", *api, "--token", "s3cret", str(path), env=no_token)
    assert passed.returncode == 0 and passed.stdout == done.stdout, passed.stderr
    assert blind.returncode == 0 and "latency_ms" not in json.loads(blind.stdout)
    assert "latency and outcomes are left out" in blind.stderr
    for failed, said in (
        (refused, "refused the token (401"),
        (refused_waiting, "refused the token (401"),
        (missing, "asks for a token (401"),
    ):
        assert failed.returncode == 1 and "Traceback" not in failed.stderr, failed.stderr
        assert failed.stderr.count("\n") == 1 and f"txflow: ingest {said}" in failed.stderr


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
    shown = banner(LocalStack(redis_url="redis://127.0.0.1:1/0"), Settings())
    assert f"  {says}" in shown.splitlines()
    assert "s3cret" not in shown
