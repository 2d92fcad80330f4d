"""Part ``ingest``: single POSTs vs a bare ASGI app, batch POSTs vs raw pipelined XADD,
server CPU vs ``orjson.loads`` + XADD packing; RESULTS.md says how."""

from __future__ import annotations

import re
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvloop

from benchmarks.load import window
from benchmarks.raw import pack, xadd_window, xadds
from benchmarks.rig import INBOXES, SHARDS, Rig, cpu_s, redis_rig, rows, spawn, transactions
from services.cli.probe import wait_until_up
from services.cli.redis_process import free_port
from shared.sharding import shard_of

ACCOUNTS = 10_000
BATCH = 1_000  # TXFLOW_MAX_BATCH's default
CONNECTIONS = {"single": 64, "batch": 8}
ROUTES = {"single": "/v1/transactions", "batch": "/v1/transactions/batch"}
# Each path: the server it posts to (None: raw XADD from this process) and its bodies.
PATHS = {
    "bare_asgi_single": ("asgi", "single"),
    "bare_fastapi_single": ("fastapi", "single"),
    "ingest_single": ("ingest", "single"),
    "raw_xadd": (None, "batch"),
    "ingest_batch": ("ingest", "batch"),
    "bare_asgi_batch": ("asgi", "batch"),
}
CONTEXT = ("bare_fastapi_single", "bare_asgi_batch")  # no target compares them: full runs only
SERVERS = {
    "ingest": ["services.ingest", "--log-level", "warning"],
    "asgi": ["benchmarks.bare"],
    "fastapi": ["benchmarks.bare", "--fastapi"],
}

Doc = dict[str, Any]
Servers = dict[str, tuple[str, int]]  # name → (URL, pid)
Bodies = dict[str, Any]  # "single", "batch": request bodies; "raw": the batches' entries
TIMING = {True: (0.3, 1.5, 1, 4_000, 8), False: (1.0, 6.0, 3, 60_000, 40)}
TIMED = ("warmup_s", "measure_s", "rounds", "singles", "batches")  # bodies: distinct, round robin


def floor_us(bodies: list[bytes]) -> float:
    """CPU µs per item of ``orjson.loads`` of each body + hiredis packing an XADD per item."""
    start, items = time.process_time(), 0
    while time.process_time() - start < 0.5:
        for body in bodies:
            docs = orjson.loads(body)
            xadds([(INBOXES[shard_of(d["account_id"], SHARDS)], orjson.dumps(d)) for d in docs])
            items += len(docs)
    return (time.process_time() - start) / items * 1e6


@contextmanager
def servers(rig: Rig, tmp: Path, names: list[str]) -> Iterator[Servers]:
    """Each server of ``names`` in its own process: name → (URL, pid)."""
    env = {"REDIS_URL": rig.server.url, "TXFLOW_SHARDS": str(SHARDS), "TXFLOW_API_TOKEN": ""}
    env |= {"TXFLOW_MAX_LAG": str(10**12), "TXFLOW_MAX_BATCH": str(BATCH)}  # no worker drains
    ports = {name: free_port() for name in names}
    argv = {
        name: [sys.executable, "-m", *SERVERS[name], "--port", str(ports[name])] for name in names
    }
    procs = {name: spawn(argv[name], env, tmp / f"{name}.log") for name in names}
    try:
        for name, proc in procs.items():
            wait_until_up(f"http://127.0.0.1:{ports[name]}/healthz", watch={name: proc})
        yield {name: (f"http://127.0.0.1:{ports[name]}", procs[name].pid) for name in names}
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(15)


def pipelines(url: str) -> tuple[float, float]:
    """The ingest's XADD pipelines so far and the entries they carried (from /metrics)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    found = dict(re.findall(r"^txflow_xadd_pipeline_entries_(count|sum) (\S+)$", text, re.M))
    return float(found.get("count", 0)), float(found.get("sum", 0))


def measure(path: str, rig: Rig, up: Servers, span: tuple[float, float], bodies: Bodies) -> Doc:
    """One path: tx/s in the window; server and Redis CPU µs per transaction over the run."""
    (server, kind), got, redis_before = PATHS[path], {}, rig.redis_cpu()
    if server is None:
        counted, total = xadd_window(rig.conn, bodies["raw"], *span)
    else:
        (url, pid), per_body = up[server], BATCH if kind == "batch" else 1
        sent, server_before = pipelines(url) if server == "ingest" else (0.0, 0.0), cpu_s(pid)
        got = uvloop.run(window(url, ROUTES[kind], bodies[kind], CONNECTIONS[kind], *span))
        counted, total = got.pop("in_window") * per_body, max(got.pop("accepted") * per_body, 1)
        got["server_cpu_us_per_tx"] = (cpu_s(pid) - server_before) / total * 1e6
        if server == "ingest":
            after = pipelines(url)
            got["entries_per_pipeline"] = (after[1] - sent[1]) / max(after[0] - sent[0], 1)
    got["redis_cpu_us_per_tx"] = (rig.redis_cpu() - redis_before) / total * 1e6
    rig.conn.call(b"".join(pack(("XTRIM", i, "MAXLEN", 0)) for i in INBOXES), SHARDS)
    return {"tx_s": counted / span[1], **got}


def ratios(runs: dict[str, Doc], floor: float) -> dict[str, float]:
    return {
        "single_vs_bare": runs["ingest_single"]["tx_s"] / runs["bare_asgi_single"]["tx_s"],
        "batch_vs_raw": runs["ingest_batch"]["tx_s"] / runs["raw_xadd"]["tx_s"],
        "batch_cpu_vs_floor": runs["ingest_batch"]["server_cpu_us_per_tx"] / floor,
    }


def payloads(singles: int, batches: int) -> Bodies:
    """Single bodies, batch bodies of ``BATCH``, and the entries the batches append."""
    now = time.time_ns() // 1_000_000
    txs = list(transactions(ACCOUNTS, batches * BATCH, seed=2))
    cut = [txs[i : i + BATCH] for i in range(0, len(txs), BATCH)]
    return {
        "single": [orjson.dumps(tx.to_wire()) for tx in transactions(ACCOUNTS, singles)],
        "batch": [orjson.dumps([tx.to_wire() for tx in c]) for c in cut],
        "raw": [list(rows(tx._replace(accepted_at=now) for tx in c)) for c in cut],
    }


def part(quick: bool, tmp: Path) -> Doc:
    warmup_s, measure_s, n_rounds, singles, batches = TIMING[quick]
    bodies = payloads(singles, batches)
    floor = floor_us(bodies["batch"])
    paths = [p for p in PATHS if not quick or p not in CONTEXT]
    names = sorted({server for p in paths if (server := PATHS[p][0])})
    rounds = []
    with redis_rig(tmp) as rig, servers(rig, tmp, names) as up:
        for n in range(n_rounds):
            print(f"  round {n + 1}/{n_rounds}: {', '.join(paths)}", file=sys.stderr)
            rounds.append({p: measure(p, rig, up, (warmup_s, measure_s), bodies) for p in paths})
    # Each path's median round by tx/s; each ratio the median of the rounds' ratios.
    median = len(rounds) // 2
    runs = {p: sorted((r[p] for r in rounds), key=lambda x: x["tx_s"])[median] for p in paths}
    per_round = [ratios(r, floor) for r in rounds]
    return {
        **{k: statistics.median(r[k] for r in per_round) for k in per_round[0]},
        "timing": dict(zip(TIMED, TIMING[quick], strict=True)) | {"connections": CONNECTIONS},
        "floor_us_per_tx": floor,
        "paths": runs,
        "rounds": per_round,
    }
