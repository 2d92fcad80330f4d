"""Worker throughput and latency against its baselines (DESIGN §7), in one run.

``python benchmarks/worker.py [--quick] [--profile out.svg]``

On a throwaway Redis, over pre-filled shard streams of the same realistic
transactions, measures:

1. one real ``python -m services.worker --burst`` process: tx/s from start to
   exit, and steady tx/s between its first and last commit (the ms part of
   the ``:out`` entry IDs); every entry must have an outcome;
2. a bare loop in its own process: one task per shard doing XREADGROUP
   COUNT 500 + XACK, no work;
3. the one-message-at-a-time consumer: XREADGROUP COUNT 1 + one XACK per
   message, sequential (on fewer entries);
4. latency accepted → applied (p50 / p99) with one worker fed at half of its
   measured peak.

Prints a markdown table, writes ``benchmarks/worker.json`` and the
``## Worker`` section of ``benchmarks/RESULTS.md`` (``--quick``: in
``benchmarks/quick/``). With ``--profile`` the burst worker is sampled by
``py-spy`` (figures printed, not recorded).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis
import redis.asyncio as aioredis

if __package__ in (None, ""):  # run as ``python benchmarks/worker.py``: import from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import document
from benchmarks.machine import facts
from services.cli.redis_process import RedisProcess
from shared import keys
from shared.deployment import ensure_deployment
from shared.keys import GROUP
from shared.model import Tx, TxType
from shared.outcomes import unpack
from shared.sharding import shard_of

ROOT = Path(__file__).resolve().parent.parent
SHARDS = 16
ACCOUNTS = 10_000
WORKER_ID = "bench"
BARE_COUNT = 500  # the worker's default batch
TICK_S = 0.005  # the latency producer appends what is due every tick
TARGET_BARE = 0.5
TARGET_SINGLE = 10.0

Row = tuple[str, bytes]  # (inbox stream, field `d`)


@dataclass(frozen=True)
class Sizes:
    entries: int
    single: int
    latency_s: float
    # The worker's TXFLOW_BLOCK_MS: how long an idle read waits, so how long a burst
    # worker idles before it exits and a stopped one before it stops (None: its default,
    # 1000 ms). A new entry ends the wait at once: throughput and latency do not depend
    # on it, but ~1 s of idle tail would weigh on quick mode's short wall times.
    block_ms: int | None = None
    # Rounds of worker, bare loop and one-at-a-time, one after the other: the machine
    # is shared, and a ratio of two runs taken while its load changes swings.
    rounds: int = 1

    @classmethod
    def of(cls, quick: bool) -> Sizes:
        # Quick keeps 40,000: on fewer, a burst worker runs faster than it does later
        # (a fresh cache), and the latency run, paced at half that rate, overloads it.
        if quick:
            return cls(40_000, 2_000, 2.0, block_ms=100)
        return cls(200_000, 20_000, 10.0, rounds=3)


class Workload:
    """~60 % deposits, 30 % withdrawals, 10 % disputes and resolves of earlier deposits.

    An account's first transaction is always a deposit; a dispute/resolve slot
    resolves the account's open dispute if it has one, else disputes one of
    its deposits. Deterministic for a seed.
    """

    def __init__(self, accounts: int = ACCOUNTS, seed: int = 7) -> None:
        self.accounts = accounts
        self.rng = random.Random(seed)
        self.deposits: dict[str, list[str]] = {}
        self.disputed: dict[str, str] = {}
        self.serial = 0

    def next(self, accepted_at: int = 0) -> Tx:
        self.serial += 1
        account, tx_id = f"acct-{self.rng.randrange(self.accounts)}", f"t{self.serial}"
        deposits = self.deposits.setdefault(account, [])
        roll = self.rng.random()
        if roll < 0.6 or not deposits:
            deposits.append(tx_id)
            amount = self.rng.randrange(1, 1_000_000)
            return Tx(account, tx_id, TxType.DEPOSIT, amount, accepted_at=accepted_at)
        if roll < 0.9:
            amount = self.rng.randrange(1, 500_000)
            return Tx(account, tx_id, TxType.WITHDRAWAL, amount, accepted_at=accepted_at)
        ref = self.disputed.pop(account, None)
        if ref is not None:
            return Tx(account, tx_id, TxType.RESOLVE, ref_tx_id=ref, accepted_at=accepted_at)
        ref = self.disputed[account] = self.rng.choice(deposits)
        return Tx(account, tx_id, TxType.DISPUTE, ref_tx_id=ref, accepted_at=accepted_at)

    def take(self, n: int) -> list[Tx]:
        return [self.next() for _ in range(n)]


# --- Redis: filling and reading the streams ----------------------------------------------


def rows_of(txs: list[Tx], shards: int = SHARDS) -> list[Row]:
    inboxes = [k.inbox for k in keys.shard_keys(shards)]
    return [(inboxes[shard_of(tx.account_id, shards)], tx.encode()) for tx in txs]


def append(client: redis.Redis, rows: list[Row], chunk: int = 5_000) -> None:
    for start in range(0, len(rows), chunk):
        pipe = client.pipeline(transaction=False)
        for inbox, data in rows[start : start + chunk]:
            pipe.xadd(inbox, {"d": data})
        pipe.execute()


def reset(client: redis.Redis, url: str, shards: int = SHARDS) -> None:
    """An empty deployment: meta and every shard's consumer group."""
    client.flushall()

    async def deploy() -> None:
        async with aioredis.Redis.from_url(url) as async_client:
            await ensure_deployment(async_client, shards)

    asyncio.run(deploy())


def fill(client: redis.Redis, url: str, rows: list[Row]) -> None:
    reset(client, url)
    append(client, rows)


def outcome_count(client: redis.Redis, shards: int = SHARDS) -> int:
    """Entries read and acknowledged: each has its outcome, committed in the same script."""
    done = 0
    for k in keys.shard_keys(shards):
        for group in client.xinfo_groups(k.inbox):
            done += int(group["entries-read"] or 0) - int(group["pending"])
    return done


Found = list[tuple[int, dict[str, Any]]]  # (commit ms, outcome payload)


def outcomes(client: redis.Redis, since_ms: int | None = None, shards: int = SHARDS) -> Found:
    """Every outcome (committed from ``since_ms`` on) as (commit ms, payload).

    The commit ms is the ms part of the outcome's ``:out`` entry ID.
    """
    start = "-" if since_ms is None else f"{since_ms}-0"
    return [
        (int(entry_id.split(b"-")[0]), doc)
        for k in keys.shard_keys(shards)
        for entry_id, fields in read_stream(client, k.outbox, start)
        for doc in unpack(fields)
    ]


def read_stream(client: redis.Redis, key: str, start: str = "-") -> Iterator[Any]:
    """Every entry of ``key`` from ``start`` on, a page of 10,000 at a time."""
    page = 10_000
    while True:
        rows: Any = client.xrange(key, start, "+", count=page)
        if not rows:
            return
        yield from rows
        start = "(" + rows[-1][0].decode()


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


# --- the baseline consumers (run in a child process: --consume bare|single) --------------


async def ack_next(client: aioredis.Redis, inbox: str, count: int, block: int | None = None) -> int:
    """One XREADGROUP of up to ``count`` new entries and one XACK of them: how many (0: none)."""
    reply: Any = await client.xreadgroup(GROUP, WORKER_ID, {inbox: ">"}, count=count, block=block)
    if not reply or not reply[0][1]:
        return 0
    ids = [entry_id for entry_id, _ in reply[0][1]]
    await client.xack(inbox, GROUP, *ids)
    return len(ids)


async def drain(client: aioredis.Redis, inbox: str, count: int) -> int:
    """Read and ack ``inbox`` until it has nothing new; no work per message."""
    done = 0
    while got := await ack_next(client, inbox, count):
        done += got
    return done


async def consume(url: str, mode: str, shards: int = SHARDS) -> dict[str, float]:
    """``bare``: one task per shard, COUNT 500; ``single``: shard after shard, COUNT 1."""
    inboxes = [k.inbox for k in keys.shard_keys(shards)]
    async with aioredis.Redis.from_url(url, decode_responses=True) as client:  # as the worker
        await client.ping()
        start = time.perf_counter()
        if mode == "bare":
            counts = await asyncio.gather(*(drain(client, i, BARE_COUNT) for i in inboxes))
        else:
            counts = [await drain(client, inbox, 1) for inbox in inboxes]
        return {"count": sum(counts), "seconds": time.perf_counter() - start}


# --- child processes ---------------------------------------------------------------------


class PeakRss:
    """A process's peak resident set size, sampled every 50 ms on a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def sample(self) -> None:
        while not self.done.wait(0.05):
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return

    def __enter__(self) -> PeakRss:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()


@dataclass
class Run:
    """A finished child process: its wall time and what it printed on stdout."""

    seconds: float
    stdout: str
    peak_rss: int


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    with log.open("a") as err:
        return subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env}, text=True,
                                stdout=subprocess.PIPE, stderr=err)  # fmt: skip


def finish(proc: subprocess.Popen[str], started: float, rss: PeakRss, log: Path) -> Run:
    stdout, _ = proc.communicate(timeout=900)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{proc.args!r} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
    return Run(seconds, stdout, rss.peak)


def run_child(argv: list[str], env: dict[str, str], log: Path, profile: Path | None) -> Run:
    started = time.perf_counter()
    proc = spawn(argv, env, log)
    spy = None if profile is None else py_spy(proc.pid, profile, log)
    with PeakRss(proc.pid) as rss:
        run = finish(proc, started, rss, log)
    if spy is not None:
        spy.communicate(timeout=60)
    return run


def py_spy(pid: int, out: Path, log: Path) -> subprocess.Popen[str]:
    fmt = "flamegraph" if out.suffix == ".svg" else "raw"
    argv = ["py-spy", "record", "--idle", "--rate", "200", "--format", fmt, "-o", str(out)]
    return spawn([*argv, "--pid", str(pid)], {}, log)


def worker_argv(burst: bool) -> list[str]:
    return [sys.executable, "-m", "services.worker", "--id", WORKER_ID] + ["--burst"] * burst


def worker_env(url: str, block_ms: int | None = None) -> dict[str, str]:
    env = {"REDIS_URL": url, "TXFLOW_SHARDS": str(SHARDS)}
    return env if block_ms is None else {**env, "TXFLOW_BLOCK_MS": str(block_ms)}


# --- the four measurements ---------------------------------------------------------------


def steady_rate(commit_ms: list[int]) -> float:
    """Outcomes committed after the first commit's ms, per second up to the last one."""
    first, last = min(commit_ms), max(commit_ms)
    return sum(1 for ms in commit_ms if ms > first) / max(last - first, 1) * 1000


def bench_worker(
    client: redis.Redis, url: str, rows: list[Row], block_ms: int | None, tmp: Path,
    profile: Path | None,
) -> dict[str, Any]:  # fmt: skip
    fill(client, url, rows)
    env = worker_env(url, block_ms)
    run = run_child(worker_argv(burst=True), env, tmp / "worker.log", profile)
    found = outcomes(client)
    if len(found) != len(rows):
        raise SystemExit(f"the worker left {len(rows) - len(found)} of {len(rows)} undecided")
    commit_ms = [ms for ms, _ in found]
    return {
        "entries": len(rows),
        "wall_s": run.seconds,
        "wall_tx_s": len(rows) / run.seconds,
        "steady_s": (max(commit_ms) - min(commit_ms)) / 1000,
        "steady_tx_s": steady_rate(commit_ms),
        "peak_rss_mb": run.peak_rss / 2**20,
        "types": dict(Counter(doc["y"] for _, doc in found)),
        "outcomes": dict(Counter(doc["o"] for _, doc in found)),
    }


def bench_consumer(
    client: redis.Redis, url: str, rows: list[Row], mode: str, tmp: Path
) -> dict[str, Any]:
    fill(client, url, rows)
    argv = [sys.executable, str(Path(__file__).resolve()), "--consume", mode, "--url", url]
    run = run_child(argv, {}, tmp / f"{mode}.log", None)
    result = json.loads(run.stdout)
    if result["count"] != len(rows):
        raise SystemExit(f"{mode} consumer read {result['count']} of {len(rows)}")
    return {
        "entries": len(rows),
        "wall_s": run.seconds,
        "wall_msg_s": len(rows) / run.seconds,
        "loop_s": result["seconds"],
        "loop_msg_s": len(rows) / result["seconds"],
    }


def produce(client: redis.Redis, workload: Workload, rate: float, seconds: float) -> int:
    """Append at ``rate`` tx/s for ``seconds``, each stamped ``accepted_at`` = now (ms)."""
    start, sent = time.monotonic(), 0
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(rate * elapsed) - sent
        if due > 0:
            now_ms = time.time_ns() // 1_000_000
            append(client, rows_of([workload.next(now_ms) for _ in range(due)]))
            sent += due
        time.sleep(TICK_S)
    return sent


def owns_every_shard(client: redis.Redis) -> bool:
    leases = client.mget([k.lease for k in keys.shard_keys(SHARDS)])
    return all(lease == WORKER_ID.encode() for lease in leases)


def bench_latency(
    client: redis.Redis, url: str, rate: float, sizes: Sizes, tmp: Path
) -> dict[str, Any]:
    reset(client, url)
    log, seconds = tmp / "latency-worker.log", sizes.latency_s
    proc = spawn(worker_argv(burst=False), worker_env(url, sizes.block_ms), log)
    with PeakRss(proc.pid) as rss:
        wait_until(lambda: owns_every_shard(client), 30, "the worker to own every shard")
        sent = produce(client, Workload(seed=11), rate, seconds)
        wait_until(lambda: outcome_count(client) >= sent, 120, "every outcome")
        proc.terminate()
        finish(proc, 0.0, rss, log)
    lags = sorted(ms - doc["at"] for ms, doc in outcomes(client))
    return {
        "rate_tx_s": rate,
        "seconds": seconds,
        "entries": sent,
        "p50_ms": percentile(lags, 0.50),
        "p99_ms": percentile(lags, 0.99),
        "max_ms": lags[-1],
        "peak_rss_mb": rss.peak / 2**20,
    }


def percentile(ordered: list[int], q: float) -> int:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- reporting ---------------------------------------------------------------------------


# (key in Report.ratios, label, target): bare-loop targets are shares, one-at-a-time multiples
RATIOS = (
    ("steady_vs_bare_loop", "worker / bare loop (steady / loop)", TARGET_BARE),
    ("wall_vs_bare_wall", "worker / bare loop (wall / wall)", TARGET_BARE),
    ("steady_vs_single_loop", "worker / one at a time (steady / loop)", TARGET_SINGLE),
    ("wall_vs_single_wall", "worker / one at a time (wall / wall)", TARGET_SINGLE),
)


def ratio_text(ratio: float, target: float, digits: int = 1) -> str:
    return f"{ratio:.0%}" if target < 1 else f"{ratio:.{digits}f}x"


@dataclass
class Report:
    worker: dict[str, Any]
    bare: dict[str, Any]
    single: dict[str, Any]
    latency: dict[str, Any]
    machine: dict[str, Any]
    command: str
    quick: bool = False
    block_ms: int | None = None  # TXFLOW_BLOCK_MS given to the worker, None: its default
    ratios: dict[str, float] = field(init=False)
    targets_met: dict[str, bool] = field(init=False)

    def __post_init__(self) -> None:
        w, b, s = self.worker, self.bare, self.single
        self.ratios = {
            "steady_vs_bare_loop": w["steady_tx_s"] / b["loop_msg_s"],
            "wall_vs_bare_wall": w["wall_tx_s"] / b["wall_msg_s"],
            "steady_vs_single_loop": w["steady_tx_s"] / s["loop_msg_s"],
            "wall_vs_single_wall": w["wall_tx_s"] / s["wall_msg_s"],
        }
        self.targets_met = {key: self.ratios[key] >= target for key, _, target in RATIOS}

    def figure_rows(self) -> list[tuple[str, str]]:
        w, b, s, lat = self.worker, self.bare, self.single, self.latency
        return [
            ("txflow worker, steady (first → last commit)", f"{w['steady_tx_s']:,.0f} tx/s"),
            (f"txflow worker, wall (start → exit of `--burst`, {w['entries']:,} tx)",
             f"{w['wall_tx_s']:,.0f} tx/s ({w['wall_s']:.2f} s)"),
            (f"bare loop: {SHARDS} tasks, XREADGROUP {BARE_COUNT} + XACK, loop / wall",
             f"{b['loop_msg_s']:,.0f} / {b['wall_msg_s']:,.0f} msg/s"),
            (f"one at a time: XREADGROUP 1 + XACK, sequential ({s['entries']:,}), loop / wall",
             f"{s['loop_msg_s']:,.0f} / {s['wall_msg_s']:,.0f} msg/s"),
            (f"latency accepted → applied at {lat['rate_tx_s']:,.0f} tx/s "
             f"(½ steady peak, {lat['seconds']:.0f} s, {lat['entries']:,} tx)",
             f"p50 {lat['p50_ms']} ms · p99 {lat['p99_ms']} ms · max {lat['max_ms']} ms"),
            ("worker peak RSS (burst / latency run)",
             f"{w['peak_rss_mb']:.0f} / {lat['peak_rss_mb']:.0f} MB"),
        ]  # fmt: skip

    def ratio_rows(self) -> list[tuple[str, str, str]]:
        rows = []
        for key, label, target in RATIOS:
            met = "met" if self.targets_met[key] else "NOT met"
            rows.append((label, ratio_text(self.ratios[key], target),
                         f"≥ {ratio_text(target, target, 0)}: {met}"))  # fmt: skip
        return rows

    def table(self) -> str:
        rows = [(a, b, "") for a, b in self.figure_rows()] + self.ratio_rows()
        lines = ["| measure | result | target |", "|---|---:|---|"]
        return "\n".join([*lines, *(f"| {a} | {b} | {c} |" for a, b, c in rows)])

    def section(self) -> str:
        m, w = self.machine, self.worker
        types, mix = counts(w["types"]), counts(w["outcomes"])
        return "\n".join([
            "## Worker", "",
            f"`{self.command}` — {m['date']}", "",
            self.table(), "",
            f"Machine: {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, "
            f"Redis {m['redis']}, Linux {m['kernel']}; 1-minute load "
            f"average before the run {m['load_before']:.2f}.", "",
            f"Workload: {self.worker['entries']:,} transactions over {ACCOUNTS:,} accounts and "
            f"{SHARDS} shards ({types}; disputes and resolves refer to earlier deposits of "
            f"the same account); outcomes: {mix}. Every run starts from a flushed, re-filled "
            f"Redis (no persistence) and the worker runs with {self.settings_text()}. "
            "*Steady* counts the outcomes committed after the first commit's millisecond "
            "over the span to the last one (`:out` entry IDs); *loop* is the baseline "
            "process's own timing after connecting; *wall* is spawn to exit of the process. "
            "Worker and baselines use uvloop and a `decode_responses=True` client. "
            f"{self.rounds_text()}"
            f"Raw figures: `{document.shown(document.output('worker.json', self.quick))}`.", "",
        ])  # fmt: skip

    def rounds_text(self) -> str:
        rounds = self.worker.get("rounds", [])
        if len(rounds) < 2:
            return ""
        ratios = ", ".join(f"{r['steady_vs_bare_loop']:.0%}" for r in rounds)
        return (f"{len(rounds)} rounds of worker, bare loop and one at a time; the figures "
                f"are the round of the median ratio to the bare loop (steady / loop by "
                f"round: {ratios}). ")  # fmt: skip

    def settings_text(self) -> str:
        if self.block_ms is None:
            return (
                "default settings (batch 500, block 1000 ms, which also idles each shard "
                "~1 s before `--burst` exits)"
            )
        return (
            f"default settings (batch 500) but `TXFLOW_BLOCK_MS={self.block_ms}` (quick mode: "
            "how long an idle read waits, so the idle tail before `--burst` exits and before "
            "a stop; a new entry ends the wait at once, and the full run keeps 1000 ms)"
        )


def counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{key} {n:,}" for key, n in sorted(counter.items(), key=lambda kv: -kv[1]))


def record(report: Report) -> tuple[Path, Path]:
    """``worker.json`` and the Worker section of RESULTS.md, of the report's mode."""
    raw = document.write_json("worker.json", asdict(report), report.quick)
    return raw, document.update({"Worker": report.section()}, report.quick)


# --- main --------------------------------------------------------------------------------


def benchmark(quick: bool, profile: Path | None, tmp: Path) -> Report:
    sizes, load_before = Sizes.of(quick), os.getloadavg()[0]
    rows = rows_of(Workload().take(sizes.entries))
    server = RedisProcess(tmp / "redis", persistence="none").start()
    client = redis.Redis.from_url(server.url)
    try:
        rounds = []
        for _ in range(sizes.rounds):
            worker = bench_worker(client, server.url, rows, sizes.block_ms, tmp, profile)
            bare = bench_consumer(client, server.url, rows, "bare", tmp)
            single = bench_consumer(client, server.url, rows[: sizes.single], "single", tmp)
            rounds.append((worker, bare, single))
        # The figures are the round of the median ratio to the bare loop.
        rounds.sort(key=lambda r: r[0]["steady_tx_s"] / r[1]["loop_msg_s"])
        worker, bare, single = rounds[len(rounds) // 2]
        worker["rounds"] = [
            {"steady_vs_bare_loop": w["steady_tx_s"] / b["loop_msg_s"],
             "steady_vs_single_loop": w["steady_tx_s"] / s["loop_msg_s"]}
            for w, b, s in rounds
        ]  # fmt: skip
        rate = worker["steady_tx_s"] / 2
        latency = bench_latency(client, server.url, rate, sizes, tmp)
        command = "python benchmarks/worker.py" + " --quick" * quick
        m = facts(client, load_before)
        return Report(worker, bare, single, latency, m, command, quick, sizes.block_ms)
    finally:
        client.close()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller run, under a minute")
    parser.add_argument("--profile", type=Path, help="py-spy the burst worker into this file")
    parser.add_argument("--consume", choices=["bare", "single"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.consume:
        import uvloop

        print(json.dumps(uvloop.run(consume(args.url, args.consume))))
        return 0
    with tempfile.TemporaryDirectory(prefix="txflow-bench-") as tmp:
        report = benchmark(args.quick, args.profile, Path(tmp))
    print(report.table())
    if args.profile is None:
        raw, results = record(report)
        print(f"\n{report.command}: wrote {document.shown(raw)} and the Worker section "
              f"of {document.shown(results)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
