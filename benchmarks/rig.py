"""What the parts share: a throwaway Redis, the workload, burst workers, outcomes read back."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import platform
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis

from benchmarks.raw import Conn, Row, groups, xadds
from services.cli.redis_process import RedisProcess, find_binary
from services.cli.workload import generate
from shared import keys
from shared.deployment import ensure_deployment
from shared.model import Tx, TxType
from shared.outcomes import LoggedOutcome, unpack
from shared.sharding import shard_of

ROOT = Path(__file__).resolve().parent.parent
SHARDS = 16
SHARD_KEYS = keys.shard_keys(SHARDS)
INBOXES = [k.inbox for k in SHARD_KEYS]
Commits = list[tuple[int, list[LoggedOutcome]]]  # (commit ms, its outcomes)


def transactions(accounts: int, count: int, seed: int = 1) -> Iterator[Tx]:
    """``count`` transactions of the CLI's workload (``txflow load``), chargebacks as resolves.

    A chargeback locks its account for good: over a million transactions on a
    thousand accounts, most accounts would be locked and most transactions
    rejected, a different workload from the one on a million accounts.
    """
    for tx in itertools.islice(generate(accounts, seed), count):
        yield tx._replace(type=TxType.RESOLVE) if tx.type is TxType.CHARGEBACK else tx


def rows(txs: Iterable[Tx]) -> Iterator[Row]:
    """Each transaction as the ingest appends it: its shard's inbox, ``Tx.encode()``."""
    return ((INBOXES[shard_of(tx.account_id, SHARDS)], tx.encode()) for tx in txs)


def cpu_s(pid: int) -> float:
    """CPU seconds of ``pid``'s threads, to the ns (the scheduler's own count, Linux)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that just ended
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def peak_rss_mb(pid: int) -> float:
    """The peak resident set of ``pid`` so far (the kernel's VmHWM), 0 once it has exited."""
    with contextlib.suppress(OSError):
        found = re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
        return int(found.group(1)) / 1024 if found else 0.0
    return 0.0


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def spawn(
    argv: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT
) -> subprocess.Popen[bytes]:
    """``argv`` in ``cwd`` (``python -m`` runs the code of that tree), output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(argv, cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=out)


@dataclass(frozen=True)
class Burst:
    """A ``--burst`` worker run to its end (CPU from ``wait4``, peak RSS from VmHWM)."""

    seconds: float
    cpu_s: float
    peak_rss_mb: float
    redis_cpu_s: float


@dataclass
class Rig:
    """A Redis without persistence, a redis-py client and a raw connection to it."""

    server: RedisProcess
    client: redis.Redis
    conn: Conn
    tmp: Path

    def redis_cpu(self) -> float:
        assert self.server.proc is not None
        return cpu_s(self.server.proc.pid)

    def used_memory(self) -> int:
        return int(self.client.info("memory")["used_memory"])

    def reset(self) -> int:
        """An empty deployment (meta, groups, counters), as the services make it; its memory."""

        async def deploy() -> None:
            async with aioredis.Redis.from_url(self.server.url) as client:
                await client.flushall()
                await ensure_deployment(client, SHARDS)

        asyncio.run(deploy())
        return self.used_memory()

    def fill(self, txs: Iterable[Tx]) -> int:
        """Append ``txs`` to their inboxes, 10,000 per pipeline; how many accounts they name."""
        it, named = iter(txs), set[str]()
        for batch in iter(lambda: list(itertools.islice(it, 10_000)), []):
            named.update(tx.account_id for tx in batch)
            self.conn.call(xadds(list(rows(batch))), len(batch))
        return len(named)

    def consume(self, group: str, loop: Callable[[Conn, list[str], str], int]) -> dict[str, float]:
        """``loop`` on a consumer group of its own from the streams' start: msg/s, Redis µs/msg."""
        groups(self.conn, INBOXES, group, create=True)
        redis_before, start = self.redis_cpu(), time.perf_counter()
        done = loop(self.conn, INBOXES, group)
        seconds, redis_s = time.perf_counter() - start, self.redis_cpu() - redis_before
        groups(self.conn, INBOXES, group, create=False)
        return {
            "messages": done,
            "msg_s": done / seconds,
            "redis_cpu_us_per_msg": redis_s / done * 1e6,
        }

    def committed(self) -> int:
        """Entries committed on every shard (the commit script counts them)."""
        return sum(int(n or 0) for n in self.client.mget([k.committed for k in SHARD_KEYS]))

    def outcomes(self, expected: int, since_ms: int = 0) -> tuple[Commits, dict[str, int]]:
        """Every commit from ``since_ms`` on (its ms, its outcomes; from ``:out``), and how
        many outcomes of each kind; ``expected`` outcomes, or it raises."""
        commits: Commits = []
        for k in SHARD_KEYS:
            start = f"{since_ms}-0"
            while page := self.client.xrange(k.outbox, start, "+", count=1_000):
                commits += [(int(i.split(b"-")[0]), unpack(fields)) for i, fields in page]
                start = "(" + page[-1][0].decode()
        found = [
            o["o"] if o["o"] != "rejected" else f"rejected: {o.get('r')}"
            for _, c in commits
            for o in c
        ]
        if len(found) != expected:
            raise RuntimeError(f"{len(found):,} outcomes for {expected:,} transactions")
        return commits, dict(Counter(found).most_common())

    def fixed_cost(self, code: Path = ROOT) -> Burst:
        """A burst worker on an empty deployment: interpreter, imports, leases, idle tail."""
        self.reset()
        return self.burst("worker-empty", code)

    def burst(self, name: str, code: Path = ROOT) -> Burst:
        """One ``python -m services.worker --burst`` of the tree ``code``: it drains every
        shard and exits."""
        env = {"REDIS_URL": self.server.url, "TXFLOW_SHARDS": str(SHARDS), "TXFLOW_BLOCK_MS": "100"}
        argv = [sys.executable, "-m", "services.worker", "--id", "bench", "--burst"]
        log, redis_before, start = self.tmp / f"{name}.log", self.redis_cpu(), time.perf_counter()
        proc, peak = spawn(argv, env, log, code), 0.0
        while not (reaped := os.wait4(proc.pid, os.WNOHANG))[0]:  # CPU from its rusage
            peak = max(peak, peak_rss_mb(proc.pid))
            time.sleep(0.02)
        seconds, proc.returncode = time.perf_counter() - start, os.waitstatus_to_exitcode(reaped[1])
        if proc.returncode != 0:
            raise RuntimeError(f"worker exited {proc.returncode}: {log.read_text()[-2000:]}")
        cpu = reaped[2].ru_utime + reaped[2].ru_stime
        return Burst(seconds, cpu, peak, self.redis_cpu() - redis_before)


@contextmanager
def redis_rig(tmp: Path) -> Iterator[Rig]:
    tmp.mkdir(parents=True, exist_ok=True)
    server = RedisProcess(tmp / "redis", persistence="none").start()
    rig = Rig(server, redis.Redis.from_url(server.url), Conn(server.url), tmp)
    try:
        yield rig
    finally:
        rig.conn.sock.close()
        rig.client.close()
        server.stop()


def machine() -> dict[str, Any]:
    """Cores, CPU model, Python, Redis server and kernel of this run."""
    models = re.findall(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
    version = subprocess.run([find_binary(), "--version"], capture_output=True, text=True).stdout
    redis_version = re.search(r"v=(\S+)", version)
    return {
        "nproc": os.cpu_count(),
        "cpu": models[0] if models else platform.machine(),
        "python": platform.python_version(),
        "redis": redis_version.group(1) if redis_version else version.strip(),
        "kernel": f"{platform.system()} {platform.release()}",
    }
