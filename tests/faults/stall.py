"""Redis paused (SIGSTOP) under a storm of retrying clients: the scenario and its figures.

Each ``StormingClient`` posts its own accounts' transactions — single POSTs or
batches — with a short client timeout, and re-sends the same ids after any
``503``, ``429``, timeout or lost connection until it gets a ``202`` (what the
clients of issue 12 did). ``stall`` pauses Redis under that load until the
stall has lasted ``stall_s`` and enough answers came back meanwhile, samples
ingest's RSS all along, resumes Redis, lets the load run until ingest accepts
again, stops it and proves with the fault checker that every ``202`` was
applied exactly once.

``python -m tests.faults.stall --clients 50 --stall-s 30 --timeout-s 1`` runs it
at the issue's size and prints the figures of RELIABILITY.md's "Stalled Redis".
"""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import psutil
import redis

from services.cli.redis_process import RedisProcess
from services.cli.workload import generate
from shared import keys
from tests.faults.checker import History, decided, post_batch, verify
from tests.polling import wait_for
from tests.stack import Stack

MIB = 1024 * 1024


@dataclass(frozen=True)
class Answer:
    sent: float
    received: float
    status: int | None
    """``None``: no answer (the client's timeout, or a lost connection)."""


class StormingClient(threading.Thread):
    """Posts chunks of its own accounts' transactions until stopped, each until ``202``."""

    def __init__(
        self, api: str, index: int, history: History, *, chunk: int, timeout_s: float
    ) -> None:
        super().__init__(daemon=True)
        self.api, self.chunk, self.timeout_s, self.history = api, chunk, timeout_s, history
        self.txs = generate(4, seed=index, prefix=f"storm{index}")
        self.answers: list[Answer] = []
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.api, timeout=self.timeout_s) as http:
                while not self.done.is_set():
                    txs = list(itertools.islice(self.txs, self.chunk))
                    post_batch(
                        http,
                        txs,
                        self.history,
                        time.monotonic() + 300,
                        single=self.chunk == 1,
                        on_answer=self._answered,
                    )
        except BaseException as e:  # surfaced by the scenario
            self.error = e

    def _answered(self, sent: float, status: int | None) -> None:
        self.answers.append(Answer(sent, time.monotonic(), status))


@dataclass
class Rss:
    """Samples of one process's resident memory."""

    pid: int
    samples: list[tuple[float, int]] = field(default_factory=list)

    def sample(self) -> int:
        rss = psutil.Process(self.pid).memory_info().rss
        self.samples.append((time.monotonic(), rss))
        return rss

    def peak(self, start: float, end: float) -> int:
        return max(rss for t, rss in self.samples if start <= t <= end)


@dataclass
class Figures:
    clients: int
    stall_s: float
    rss_before_mib: float
    rss_peak_during_mib: float
    rss_after_mib: float
    during: dict[str, int]
    """Attempts sent and answered while Redis was stopped, by status ("none": no answer)."""
    accepted: int
    """Transactions answered ``202``."""
    appended: int
    """Entries added to the shard streams (``entries-added``), retries included."""
    duplicates: int
    """``duplicate`` outcomes: appended copies of a transaction the client had re-sent."""


def stall(
    stack: Stack,
    server: RedisProcess,
    *,
    clients: int,
    stall_s: float,
    timeout_s: float,
    batch: int = 20,
    wait_s: float = 20,
) -> Figures:
    """Run the scenario against a running ``stack`` (ingest and workers) on ``server``.

    The stall ends once it lasted ``stall_s`` and every client had two answers
    to attempts it sent meanwhile; ``wait_s`` bounds that wait. Half the clients
    post single transactions, the others batches of ``batch``.
    """
    history = History()
    storm = [
        StormingClient(stack.api, i, history, chunk=1 if i % 2 else batch, timeout_s=timeout_s)
        for i in range(clients)
    ]
    ingest = Rss(stack.procs["ingest"].pid)
    for client in storm:
        client.start()
    try:
        wait_for(lambda: ingest.sample() and len(history.accepted) >= 10 * clients, 60, "load")
        server_proc = psutil.Process(server.proc.pid)  # type: ignore[union-attr]
        rss_before = ingest.sample()
        server_proc.suspend()
        wait_for(lambda: server_proc.status() == psutil.STATUS_STOPPED, 5, "Redis stopped")
        stopped = time.monotonic()

        def answered_during_stall() -> int:
            ingest.sample()
            return sum(1 for c in storm for a in list(c.answers) if a.sent > stopped)

        try:
            wait_for(
                lambda: (
                    time.monotonic() - stopped >= stall_s and answered_during_stall() >= 2 * clients
                ),
                stall_s + wait_s,
                "answers while Redis is stopped",
            )
        finally:
            resumed = time.monotonic()
            server_proc.resume()
        base = len(history.accepted)
        wait_for(
            lambda: ingest.sample() and len(history.accepted) >= base + 10 * clients,
            60,
            "ingest accepting again",
        )
    finally:
        for client in storm:
            client.done.set()
        for client in storm:
            client.join(120)
    errors = [c.error for c in storm if c.error is not None]
    assert not errors, errors[0]
    rss_after = ingest.sample()
    during = Counter(
        str(a.status).lower()
        for c in storm
        for a in c.answers
        if a.sent > stopped and a.received < resumed
    )
    client = redis.Redis.from_url(stack.redis_url)
    try:
        wait_for(lambda: decided(client, stack.shards) >= len(history.accepted), 90, "decided")
        report = verify(client, stack.shards, history)
        appended = sum(
            int(client.xinfo_stream(k.inbox)["entries-added"])
            for k in keys.shard_keys(stack.shards)
        )
    finally:
        client.close()
    return Figures(
        clients=clients,
        stall_s=round(resumed - stopped, 1),
        rss_before_mib=round(rss_before / MIB, 1),
        rss_peak_during_mib=round(ingest.peak(stopped, resumed) / MIB, 1),
        rss_after_mib=round(rss_after / MIB, 1),
        during=dict(during),
        accepted=report.accepted,
        appended=appended,
        duplicates=report.duplicates_from_retries,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.stall", description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--stall-s", type=float, default=30)
    parser.add_argument("--timeout-s", type=float, default=1.0, help="the clients' timeout")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="txflow-stall-") as tmp:
        server = RedisProcess(Path(tmp) / "redis").start()
        stack = Stack(server.url, Path(tmp) / "logs")
        try:
            stack.start_ingest()
            for n in range(args.workers):
                stack.start_worker(f"w{n}")
            wait_for(lambda: None not in stack.owners().values(), 30, "every shard owned")
            figures = stall(
                stack,
                server,
                clients=args.clients,
                stall_s=args.stall_s,
                timeout_s=args.timeout_s,
                wait_s=120,
            )
            logs = {name: stack.log(name).splitlines() for name in stack.procs}
        finally:
            if server.proc is not None:
                server.proc.send_signal(signal.SIGCONT)
            stack.stop_all()
            server.stop()
    warnings = {name: sum("WARNING" in line for line in lines) for name, lines in logs.items()}
    print(json.dumps(asdict(figures) | {"warnings_logged": warnings}, indent=2))


if __name__ == "__main__":
    main()
