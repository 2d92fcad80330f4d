"""Real processes for end-to-end tests: ingest, workers, a workload and its checker."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from services.cli.probe import wait_until_up
from services.cli.redis_process import free_port
from services.cli.workload import generate
from shared import keys
from shared.model import Tx
from shared.store import connect_sync
from tests import config


@dataclass
class Stack:
    """Ingest and workers as OS processes against one Redis (or a Redis Cluster
    when ``cluster``: ``redis_url`` is then one of its nodes); all killed at the end."""

    redis_url: str
    logs: Path
    shards: int = 8
    lease_ttl_ms: int = 1500
    cluster: bool = False
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    api: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    """More ``TXFLOW_*`` variables for every process."""
    poison: Path | None = None  # workers run under the test hook tests.poison, read from here

    def env(self) -> dict[str, str]:
        poison = {} if self.poison is None else {"TXFLOW_TEST_POISON": str(self.poison)}
        return {
            **os.environ,
            **poison,
            "REDIS_URL": self.redis_url,
            "TXFLOW_REDIS_CLUSTER": "1" if self.cluster else "0",
            "TXFLOW_SHARDS": str(self.shards),
            "TXFLOW_LEASE_TTL_MS": str(self.lease_ttl_ms),
            "TXFLOW_BLOCK_MS": "100",
            "TXFLOW_BATCH": "100",
            "PYTHONUNBUFFERED": "1",
            **self.settings,
        }

    def spawn(self, name: str, *argv: str, redis_url: str | None = None) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        env = self.env() if redis_url is None else {**self.env(), "REDIS_URL": redis_url}
        with (self.logs / f"{name}.log").open("ab") as log:  # the child keeps its own fd
            proc = subprocess.Popen([sys.executable, *argv], env=env, stdout=log, stderr=log)
        self.procs[name] = proc
        return proc

    def start_ingest(self) -> str:
        port = free_port()
        proc = self.spawn(
            "ingest", "-m", "services.ingest", "--host", "127.0.0.1", "--port", str(port)
        )
        self.api = f"http://127.0.0.1:{port}"
        wait_until_up(f"{self.api}/healthz", watch={"ingest": proc}, timeout=30)
        return self.api

    def start_worker(self, worker_id: str, redis_url: str | None = None) -> subprocess.Popen[bytes]:
        """A worker; ``redis_url`` lets it reach Redis another way (through a proxy)."""
        module = "services.worker" if self.poison is None else "tests.poison"
        return self.spawn(worker_id, "-m", module, "--id", worker_id, redis_url=redis_url)

    def signal(self, name: str, sig: signal.Signals) -> None:
        self.procs[name].send_signal(sig)

    def owned_by(self, worker: str) -> set[int]:
        return {s for s, owner in self.owners().items() if owner == worker}

    def client(self, **options: Any) -> redis.Redis | redis.RedisCluster:
        """A client of this stack's Redis, of the type its services use."""
        settings = config.settings(self.redis_url, redis_cluster=self.cluster)
        return connect_sync(settings, **options)

    def heartbeats(self, worker: str) -> bool:
        """Whether ``worker`` is in ``txflow:workers`` (it runs its loop, signals handled)."""
        client = self.client()
        try:
            return client.zscore(keys.WORKERS, worker) is not None
        finally:
            client.close()

    def owners(self) -> dict[int, str | None]:
        client = self.client(decode_responses=True)
        try:
            return {s.shard: client.get(s.lease) for s in keys.shard_keys(self.shards)}
        finally:
            client.close()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
                proc.wait()

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")


def workload(accounts: int, per_account: int, seed: int = 1) -> list[Tx]:
    """``accounts * per_account`` interleaved transactions (``services.cli.workload``);
    each account's tx ids are its sequence ``000001``..."""
    return list(itertools.islice(generate(accounts, seed), accounts * per_account))
