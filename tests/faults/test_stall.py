"""A stalled Redis neither stalls nor swells ingest; errors are logged once per outage.

Real processes: a Redis of the harness, ingest and workers; Redis is paused
with SIGSTOP (a stall: connections stay open, nothing is answered) or made to
refuse writes (``maxmemory 1``: OOM).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import redis

from services.cli.redis_process import RedisProcess
from tests.faults.checker import History, decided, post_all, verify
from tests.faults.stall import MIB, stall
from tests.polling import wait_for
from tests.stack import Stack, workload

pytestmark = pytest.mark.slow

DEADLINE_MS = 500
MAX_INFLIGHT = 1000  # entries
RSS_BOUND = 64 * MIB
"""What ingest may grow by through a stall (beyond its RSS before it): a few
times what ``MAX_INFLIGHT`` entries and their requests hold. Without the bound
the storm below queued about 8 MiB more every second of the stall."""


@pytest.fixture
def make_stack(
    redis_factory: Callable[..., RedisProcess], tmp_path: Path
) -> Iterator[Callable[..., tuple[Stack, RedisProcess]]]:
    made: list[tuple[Stack, RedisProcess]] = []

    def make(workers: int = 2) -> tuple[Stack, RedisProcess]:
        server = redis_factory("none")
        settings = {
            "TXFLOW_REDIS_TIMEOUT_MS": str(DEADLINE_MS),
            "TXFLOW_MAX_INFLIGHT": str(MAX_INFLIGHT),
            "TXFLOW_MAX_BATCH": "100",
        }
        stack = Stack(server.url, tmp_path / "logs", settings=settings)
        made.append((stack, server))
        stack.start_ingest()
        for n in range(workers):
            stack.start_worker(f"w{n}")
        if workers:
            wait_for(lambda: None not in stack.owners().values(), 30, "every shard owned")
        return stack, server

    yield make
    for stack, server in made:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.send_signal(signal.SIGCONT)
        stack.stop_all()


def test_a_stalled_redis_is_503_for_a_retrying_storm_and_every_202_applies_once(
    make_stack: Callable[..., tuple[Stack, RedisProcess]],
) -> None:
    stack, server = make_stack()
    # 16 clients with a 2 s timeout, retrying at once with the same ids; Redis
    # stopped for at least 4 deadlines. stall() checks every 202 applied once.
    figures = stall(stack, server, clients=16, stall_s=4 * DEADLINE_MS / 1000, timeout_s=2.0)

    # Whatever was asked and answered during the stall was answered 503: no
    # request waited for Redis to come back (the client would have timed out).
    assert figures.during.get("503", 0) >= 2 * figures.clients
    assert set(figures.during) == {"503"}, figures.during
    assert figures.rss_peak_during_mib - figures.rss_before_mib <= RSS_BOUND / MIB, figures
    assert figures.rss_after_mib - figures.rss_before_mib <= RSS_BOUND / MIB, figures
    # Appended copies beyond the transactions come from attempts sent before their
    # client gave up: at most what was in flight when the stall began, not a queue
    # of every retry.
    assert figures.appended - figures.accepted <= MAX_INFLIGHT, figures
    # Logged once per outage, not once per failed request.
    warnings = [line for line in stack.log("ingest").splitlines() if "WARNING" in line]
    assert 1 <= len(warnings) <= 4, warnings


def test_readyz_is_503_while_redis_stalls_or_refuses_writes_and_healthz_stays_200(
    make_stack: Callable[..., tuple[Stack, RedisProcess]],
) -> None:
    stack, server = make_stack(workers=0)
    redis_proc = psutil.Process(server.proc.pid)  # type: ignore[union-attr]
    with httpx.Client(base_url=stack.api, timeout=5) as http:

        def status(path: str) -> int:
            return http.get(path).status_code

        assert status("/readyz") == 200
        redis_proc.suspend()
        try:
            response = http.get("/readyz")
            assert response.status_code == 503, response.text
            assert "answer" in response.json()["detail"]
            assert status("/healthz") == 200
        finally:
            redis_proc.resume()
        wait_for(lambda: status("/readyz") == 200, 10, "ready after the stall")

        client = redis.Redis.from_url(server.url)
        client.config_set("maxmemory", 1)  # every write refused: OOM
        try:
            response = http.get("/readyz")
            assert response.status_code == 503, response.text
            assert "refuses writes" in response.json()["detail"]
            assert status("/healthz") == 200
        finally:
            client.config_set("maxmemory", 0)
            client.close()
        assert status("/readyz") == 200


def test_repeated_redis_errors_are_logged_once_per_outage(
    make_stack: Callable[..., tuple[Stack, RedisProcess]],
) -> None:
    stack, server = make_stack(workers=1)
    client = redis.Redis.from_url(server.url)
    history = History()
    txs = workload(accounts=10, per_account=30)
    post_all(stack.api, txs[:100], history)
    wait_for(lambda: decided(client, stack.shards) >= 100, 60, "the first part decided")

    # Redis refuses every write (OOM) while the worker has entries to commit and
    # heartbeats (a write) every 0.5 s, and while ingest is asked again and again.
    stack.signal("w0", signal.SIGSTOP)
    post_all(stack.api, txs[100:200], history)
    client.config_set("maxmemory", 1)
    stack.signal("w0", signal.SIGCONT)
    with httpx.Client(base_url=stack.api, timeout=5) as http:
        refused = [http.post("/v1/transactions", json=txs[200].to_wire()) for _ in range(200)]
    assert {r.status_code for r in refused} == {503}

    def worker_refused() -> int:
        return int(client.info("commandstats")["cmdstat_evalsha"]["failed_calls"])

    wait_for(lambda: worker_refused() >= 10, 30, "ten refused script calls of the worker")
    client.config_set("maxmemory", 0)
    post_all(stack.api, txs[200:], history)
    wait_for(lambda: decided(client, stack.shards) >= len(txs), 60, "everything decided")
    verify(client, stack.shards, history)
    client.close()

    for name in ("ingest", "w0"):
        # The last source to succeed again ends the outage: a runner whose sync
        # committed the last entries may still be in its next blocking read.
        wait_for(lambda n=name: "recovered after" in stack.log(n), 10, f"{name}: recovery logged")
        log = stack.log(name)
        assert "Traceback" not in log, log
        # Each distinct error once per outage (the worker's scripts have a few).
        refusals = [line for line in log.splitlines() if "maxmemory" in line]
        assert 1 <= len(refusals) <= 4, refusals
