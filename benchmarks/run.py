"""Every DESIGN §7 benchmark in one run: ingest, worker, end to end, scale.

``python benchmarks/run.py [--quick]`` (or ``python -m benchmarks.run``; needs the
``bench`` extra: ``pip install -e '.[bench]'``)

Runs the parts one after the other, each on its own throwaway Redis, and
writes ``benchmarks/results.json`` (every figure, the machine, the 1-minute
load average before each part), the chart ``benchmarks/throughput_latency.png``
and ``benchmarks/RESULTS.md`` (a ``## Run`` section with every target met or
not, then one section per part; sections of others are kept). The full mode
first waits (up to ``--patience`` seconds) for the load average to fall under
``--max-load``: the machine is shared and every figure is a ratio of two runs
that other work skews differently. ``--quick`` measures every part on smaller
workloads and shorter windows in under a minute and writes the same files to
``benchmarks/quick/`` (git-ignored): the committed ones keep full-run figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

if __package__ in (None, ""):  # run as ``python benchmarks/run.py``: import from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BENCH_EXTRA = ("psutil", "aiohttp", "matplotlib")  # pyproject's [bench]; the parts import them


def missing_extra() -> str | None:
    """What to install, when the ``bench`` extra is not (before the parts import it)."""
    missing = [name for name in BENCH_EXTRA if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return (
        f"benchmarks/run.py needs the bench extra ({', '.join(missing)} missing): "
        "pip install -e '.[bench]'"
    )


if __name__ == "__main__" and (need := missing_extra()):
    sys.exit(need)

from benchmarks import chart, document, e2e, scale, sections, siblings, targets  # noqa: E402
from benchmarks.machine import facts  # noqa: E402
from benchmarks.siblings import Part  # noqa: E402
from services.cli.redis_process import NoRedisServer, RedisProcess, find_binary  # noqa: E402

INGEST_ELSEWHERE = (
    "its targets (batch ≥ 60 % of raw pipelined XADD, single ≥ 80 % of a bare endpoint) "
    "are stated in its own section"
)
TITLES = {"ingest": "Ingest", "worker": "Worker", "e2e": "End to end", "scale": "Scale"}


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait_for_calm(max_load: float, patience_s: float) -> dict[str, float]:
    """Poll the 1-minute load average until it is under ``max_load`` or patience runs out."""
    start = time.monotonic()
    while (load := load_average()) > max_load and time.monotonic() - start < patience_s:
        print(f"load average {load:.2f} > {max_load}: waiting", file=sys.stderr)
        time.sleep(10)
    return {"load": load, "max_load": max_load, "waited_s": time.monotonic() - start}


# --- the parts -----------------------------------------------------------------------------


def measured(name: str, measure: Callable[[], Part]) -> tuple[dict[str, Any], Part | None]:
    """Run one part; a failure is recorded with its reason, and the run goes on."""
    print(f"== {name}", file=sys.stderr)
    entry: dict[str, Any] = {"load_before": load_average()}
    start = time.perf_counter()
    part: Part | None = None
    try:
        part = measure()
        entry["status"] = part.result.get("status", "ok")
        entry["result"] = part.result
    except (Exception, SystemExit) as e:
        traceback.print_exc()
        entry["status"], entry["note"] = "failed", f"failed: {e!r}"[:500]
    entry["seconds"] = time.perf_counter() - start
    if entry["status"] == "absent":
        entry["note"] = "`benchmarks/ingest.py` is not there: not measured"
    return entry, part


def run_parts(quick: bool, tmp: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Part]]:
    plan: dict[str, Callable[[], Part]] = {
        "ingest": lambda: siblings.ingest_part(quick, tmp / "ingest"),
        "worker": lambda: siblings.worker_part(quick, tmp / "worker"),
        "e2e": lambda: Part(e2e.benchmark(quick, tmp / "e2e")),
        "scale": lambda: Part(scale.benchmark(quick, tmp / "scale")),
    }
    entries, parts = {}, {}
    for name, measure in plan.items():
        (tmp / name).mkdir()
        entries[name], part = measured(name, measure)
        if part is not None:
            parts[name] = part
    return entries, parts


def machine(tmp: Path, load_before: float) -> dict[str, Any]:
    server = RedisProcess(tmp / "redis-version").start()
    try:
        with redis.Redis.from_url(server.url) as client:
            return facts(client, load_before)
    finally:
        server.stop()


# --- what is written -----------------------------------------------------------------------


def verdicts(parts: dict[str, Part], cores: int) -> list[targets.Target]:
    found = list(parts["ingest"].targets) if "ingest" in parts else []
    scaled = parts["scale"].result if "scale" in parts else None
    if "worker" in parts:
        found += targets.worker_targets(parts["worker"].result, scaled)
    if "e2e" in parts:
        found += targets.e2e_targets(parts["e2e"].result, cores)
    if scaled is not None:
        found += targets.scale_targets(scaled)
    return found


def our_sections(doc: dict[str, Any], parts: dict[str, Part]) -> dict[str, str]:
    """The sections this run writes: its own parts', and the siblings' that return one."""
    date, command, entries = doc["date"], doc["command"], doc["parts"]
    written = {name: part.section for name, part in parts.items() if part.section is not None}
    if "e2e" in parts:
        load = entries["e2e"]["load_before"]
        written["e2e"] = sections.e2e_section(parts["e2e"].result, command, date, load)
    if "scale" in parts:
        load = entries["scale"]["load_before"]
        written["scale"] = sections.scale_section(
            parts["scale"].result, doc["quick"], command, date, load
        )
    for name, entry in entries.items():
        if entry["status"] == "failed" and name != "ingest":  # ingest's section is its own
            written[name] = f"## {TITLES[name]}\n\n`{command}` — {date}: {entry['note']}\n"
    return {TITLES[name]: text for name, text in written.items()}


def draw(doc: dict[str, Any], parts: dict[str, Part]) -> Path | None:
    if "e2e" not in parts:
        return None
    m, out = doc["machine"], document.output("throughput_latency.png", doc["quick"])
    out.parent.mkdir(exist_ok=True)
    title = f"txflow end to end: 1 ingest + 2 workers, {m['nproc']} cores — {doc['date']}"
    title += " (quick run)" * doc["quick"]
    try:
        chart.draw(parts["e2e"].result, out, title)
    except ImportError:
        doc["parts"]["e2e"]["note"] = "no chart: pip install -e '.[bench]' (matplotlib)"
        return None
    return out


def write(doc: dict[str, Any], parts: dict[str, Part], found: list[targets.Target]) -> list[Path]:
    """results.json, the chart and RESULTS.md of the run's mode; the paths written."""
    ingest = doc["parts"]["ingest"]
    if ingest["status"] == "ok" and not any(t.part == "ingest" for t in found):
        ingest["note"] = INGEST_ELSEWHERE
    doc["targets"] = [t.as_json() for t in found]
    drawn = draw(doc, parts)
    raw = document.write_json("results.json", doc, doc["quick"])
    ours = {"Run": sections.run_section(doc, found), **our_sections(doc, parts)}
    results = document.update(ours, doc["quick"])
    return [results, raw, *([drawn] if drawn else [])]


def summary(doc: dict[str, Any], found: list[targets.Target], written: list[Path]) -> str:
    """What the console shows: time per part, quick mode's scope, every target."""
    times = ", ".join(f"{name} {p['seconds']:.0f} s" for name, p in doc["parts"].items())
    scope = sections.quick_scope(doc["parts"]) if doc["quick"] else []
    verdicts = [
        f"  {t.part:<10} {t.label:<52} {t.text(t.measured):>7}  {'met' if t.met else 'NOT met'}"
        for t in found
    ]
    failed = [f"  {name}: {p['note']}" for name, p in doc["parts"].items() if p.get("note")]
    return "\n".join([
        f"{doc['command']}: {doc['seconds']:.0f} s ({times})",
        *(["quick mode, smaller than the full run [in brackets]:", *(f"  {s}" for s in scope)]
          if scope else []),
        *verdicts, *failed,
        "wrote " + ", ".join(document.shown(p) for p in written),
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller run, under a minute")
    parser.add_argument("--max-load", type=float, default=1.5, help="wait below this (full)")
    parser.add_argument("--patience", type=float, default=600, help="seconds to wait at most")
    args = parser.parse_args(argv)
    try:
        find_binary()
    except NoRedisServer as e:
        print(f"benchmarks/run.py: {e}", file=sys.stderr)
        return 2
    wait = wait_for_calm(args.max_load, 0 if args.quick else args.patience)
    date, started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="txflow-bench-") as tmp:
        entries, parts = run_parts(args.quick, Path(tmp))
        doc = {
            "command": "python -m benchmarks.run" + " --quick" * args.quick,
            "quick": args.quick,
            "date": date,
            "seconds": time.perf_counter() - started,
            "machine": machine(Path(tmp), wait["load"]),
            "load_wait": wait,
            "parts": entries,
        }
    found = verdicts(parts, doc["machine"]["nproc"])
    print(summary(doc, found, write(doc, parts, found)))
    return 1 if any(e["status"] == "failed" for e in entries.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
