"""Real processes for end-to-end tests: ingest, workers, a workload and its checker."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis

from services.cli.redis_process import free_port
from services.worker.accounts import Account
from services.worker.ledger import MemoryLedger
from shared import keys
from shared.model import Outcome, Tx, TxType
from shared.sharding import shard_of


def wait_for(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll ``condition`` until it is truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


@dataclass
class Stack:
    """Ingest and workers as OS processes against one Redis; all killed at the end."""

    redis_url: str
    logs: Path
    shards: int = 8
    lease_ttl_ms: int = 1500
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    api: str = ""

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "REDIS_URL": self.redis_url,
            "TXFLOW_SHARDS": str(self.shards),
            "TXFLOW_LEASE_TTL_MS": str(self.lease_ttl_ms),
            "TXFLOW_BLOCK_MS": "100",
            "TXFLOW_BATCH": "100",
            "PYTHONUNBUFFERED": "1",
        }

    def spawn(self, name: str, *argv: str) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("ab") as log:  # the child keeps its own fd
            proc = subprocess.Popen([sys.executable, *argv], env=self.env(), stdout=log, stderr=log)
        self.procs[name] = proc
        return proc

    def start_ingest(self) -> str:
        port = free_port()
        self.spawn("ingest", "-m", "services.ingest", "--host", "127.0.0.1", "--port", str(port))
        self.api = f"http://127.0.0.1:{port}"
        wait_for(self._healthy, 30, "ingest /healthz")
        return self.api

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.api}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def start_worker(self, worker_id: str) -> subprocess.Popen[bytes]:
        return self.spawn(worker_id, "-m", "services.worker", "--id", worker_id)

    def signal(self, name: str, sig: signal.Signals) -> None:
        self.procs[name].send_signal(sig)

    def owners(self) -> dict[int, str | None]:
        client = redis.Redis.from_url(self.redis_url, decode_responses=True)
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
    """Interleaved transactions; each account's tx ids are its sequence ``000001``..."""
    rng = random.Random(seed)
    queues = {f"acct-{a}": 0 for a in range(accounts)}
    deposits: dict[str, list[str]] = defaultdict(list)
    txs: list[Tx] = []
    while queues:
        account = rng.choice(list(queues))
        queues[account] += 1
        seq = queues[account]
        if seq >= per_account:
            del queues[account]
        tx_id = f"{seq:06d}"
        roll = rng.random()
        if roll < 0.55 or not deposits[account]:
            txs.append(Tx(account, tx_id, TxType.DEPOSIT, rng.randrange(1, 10**6)))
            deposits[account].append(tx_id)
        elif roll < 0.85:
            txs.append(Tx(account, tx_id, TxType.WITHDRAWAL, rng.randrange(1, 10**6)))
        else:
            kind = rng.choice([TxType.DISPUTE, TxType.RESOLVE, TxType.CHARGEBACK])
            txs.append(Tx(account, tx_id, kind, None, rng.choice(deposits[account])))
    return txs


class Loader(threading.Thread):
    """Posts a workload in the background and stops halfway until ``resume()``.

    The pause makes "a fault under load" deterministic: the test injects its
    fault while half the workload is in the streams and the rest still to come.
    """

    def __init__(self, api: str, txs: list[Tx], chunk: int = 50) -> None:
        super().__init__(daemon=True)
        self.api, self.txs, self.chunk = api, txs, chunk
        self.halfway = threading.Event()
        self._resume = threading.Event()
        self.retries = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        half = len(self.txs) // 2
        try:
            self.retries += post_all(self.api, self.txs[:half], self.chunk)
            self.halfway.set()
            self._resume.wait(120)
            self.retries += post_all(self.api, self.txs[half:], self.chunk)
        except BaseException as e:  # surfaced by finish()
            self.error = e
            self.halfway.set()

    def resume(self) -> None:
        self._resume.set()

    def finish(self, timeout: float = 120) -> None:
        self.resume()
        self.join(timeout)
        assert not self.is_alive(), "the loader did not finish"
        if self.error is not None:
            raise self.error


def post_all(api: str, txs: list[Tx], chunk: int = 100, deadline_s: float = 120) -> int:
    """Post in order through the batch endpoint, retrying 429/503/lost connections
    with the same ids (safe: the worker dedups); returns the number of retries."""
    retries = 0
    end = time.monotonic() + deadline_s
    with httpx.Client(base_url=api, timeout=10) as http:
        for i in range(0, len(txs), chunk):
            body = orjson.dumps([t.to_wire() for t in txs[i : i + chunk]])
            while True:
                assert time.monotonic() < end, "posting did not finish"
                try:
                    r = http.post("/v1/transactions/batch", content=body,
                                  headers={"content-type": "application/json"})  # fmt: skip
                    if r.status_code == 202:
                        break
                    assert r.status_code in (429, 503), r.text
                except httpx.TransportError:
                    pass
                retries += 1
                time.sleep(0.05)
    return retries


def outcomes_by_account(client: redis.Redis, shards: int) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for k in keys.shard_keys(shards):
        for _, fields in client.xrange(k.outbox):
            doc = orjson.loads(fields[b"d"])
            found[doc["a"]].append(doc)
    return found


def drained(client: redis.Redis, shards: int, txs: list[Tx]) -> bool:
    decided = sum(
        1
        for docs in outcomes_by_account(client, shards).values()
        for d in docs
        if d["o"] != Outcome.DUPLICATE
    )
    return decided >= len(txs)


def verify(client: redis.Redis, shards: int, txs: list[Tx], *, retried: bool = False) -> None:
    """Nothing lost, nothing applied twice, each account in order, states = model.

    A ``duplicate`` outcome may only come from a client retry: without retries,
    one would mean an entry was processed twice.
    """
    by_account = outcomes_by_account(client, shards)
    if not retried:
        doubled = [d for docs in by_account.values() for d in docs if d["o"] == Outcome.DUPLICATE]
        assert not doubled, f"entries processed twice: {doubled[:5]}"
    model = MemoryLedger()
    expected: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for tx in txs:
        expected[tx.account_id].append((tx.tx_id, model.process(tx).outcome.value))
    for account, want in expected.items():
        got = [(d["t"], d["o"]) for d in by_account[account] if d["o"] != Outcome.DUPLICATE]
        assert got == want, f"{account}: outcomes differ from the sequential model"
    assert not any(client.xlen(k.dlq) for k in keys.shard_keys(shards)), "unexpected dead letters"
    for account, state in model:
        h = client.hgetall(keys.ShardKeys(shard_of(account, shards)).account(account))
        got_state = Account(int(h[b"available"]), int(h[b"held"]), h[b"locked"] == b"1")
        assert got_state == state, f"{account}: state differs"


def all_pending(client: redis.Redis, shards: int) -> int:
    return sum(
        int(client.xpending(k.inbox, keys.GROUP)["pending"]) for k in keys.shard_keys(shards)
    )
