"""Every DESIGN §7 benchmark: ingest, worker, scale, end to end (RESULTS.md says how to read it).

``python benchmarks/run.py [--quick] [--only ingest,worker,...]`` (needs the ``bench`` extra)

Runs the parts one after the other, each on a throwaway Redis, then writes
``results.json`` and the tables of ``RESULTS.md`` (and the end-to-end chart)
in ``benchmarks/``, or in ``benchmarks/quick/`` (git-ignored) with
``--quick``: smaller workloads, about a minute. ``--only`` reruns some parts
and keeps the others' figures. A full run first waits for the load average to
fall under ``--max-load`` (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as ``python benchmarks/run.py``: import from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

try:
    import aiohttp  # noqa: F401
except ImportError as e:
    sys.exit(
        f"benchmarks/run.py needs the bench extra ({e.name} missing): pip install -e '.[bench]'"
    )

from benchmarks import e2e, ingest, replicas, report, wait, worker
from benchmarks.rig import machine
from services.cli.redis_process import NoRedisServer, find_binary

PARTS: dict[str, Callable[[bool, Path], dict[str, Any]]] = {
    "ingest": ingest.part,
    "worker": worker.worker_part,
    "scale": worker.scale_part,
    "e2e": e2e.part,
    "wait": wait.part,
    "replicas": replicas.part,
}


def wait_for_calm(max_load: float, patience_s: float) -> None:
    deadline = time.monotonic() + patience_s
    while (load := os.getloadavg()[0]) > max_load and time.monotonic() < deadline:
        print(f"load average {load:.2f} > {max_load}: waiting", file=sys.stderr)
        time.sleep(10)


def measured(name: str, quick: bool, tmp: Path) -> dict[str, Any]:
    """One part's figures, or why it failed (the run goes on), with its date and load."""
    print(f"== {name}", file=sys.stderr)
    entry: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": "quick" if quick else "full",
        "load_before": os.getloadavg()[0],
    }
    start = time.perf_counter()
    try:
        entry["result"] = PARTS[name](quick, tmp / name)
    except Exception as e:
        traceback.print_exc()
        entry["error"] = repr(e)[:300]
    entry["seconds"] = time.perf_counter() - start
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small workloads, about a minute")
    parser.add_argument("--only", default=",".join(PARTS), help="parts to run, comma-separated")
    parser.add_argument("--max-load", type=float, default=1.5, help="full run: wait below this")
    parser.add_argument("--patience", type=float, default=600, help="seconds to wait at most")
    args = parser.parse_args(argv)
    chosen = [name for name in PARTS if name in args.only.split(",")]
    if not chosen or set(args.only.split(",")) - set(PARTS):
        parser.error(f"--only takes some of {', '.join(PARTS)}")
    try:
        find_binary()
    except NoRedisServer as e:
        sys.exit(f"benchmarks/run.py: {e}")
    wait_for_calm(args.max_load, 0 if args.quick else args.patience)
    doc = report.load(args.quick)
    doc["machine"] = machine()
    with tempfile.TemporaryDirectory(prefix="txflow-bench-") as tmp:
        for name in chosen:
            doc["parts"][name] = measured(name, args.quick, Path(tmp))
    written = report.write(doc, args.quick, chart="e2e" in chosen)
    print(report.render(doc, chart=False))
    print("wrote " + ", ".join(str(p.relative_to(report.HERE.parent)) for p in written))
    return 1 if any("error" in doc["parts"][name] for name in chosen) else 0


if __name__ == "__main__":
    sys.exit(main())
