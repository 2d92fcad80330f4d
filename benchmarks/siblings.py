"""The parts measured by sibling benchmarks: ``benchmarks/worker.py`` and ``benchmarks/ingest.py``.

Each returns a ``Part``: its figures as JSON, its ``## ...`` section of
RESULTS.md (``None`` when the sibling writes RESULTS.md itself) and its
targets. The ingest benchmark is optional: absent, it is reported as not
measured; present, its ``benchmark`` function is called when its parameters
are among those known here (``quick``, ``profile``, ``tmp``), else it runs as
``python benchmarks/ingest.py [--quick]``, which writes its own section.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import document, worker
from benchmarks.targets import WHY_UNKNOWN, Target, ingest_why, kind_of

HERE = Path(__file__).resolve().parent
INGEST = HERE / "ingest.py"


@dataclass
class Part:
    result: dict[str, Any]
    section: str | None = None
    targets: list[Target] = field(default_factory=list)


# --- worker --------------------------------------------------------------------------------


def worker_part(quick: bool, tmp: Path) -> Part:
    """``worker.benchmark``; its section as ``worker.py`` writes it, raw figures in results.json."""
    report = worker.benchmark(quick, None, tmp)
    return Part(dataclasses.asdict(report), pointed(report.section(), "worker", quick))


def pointed(section: str, name: str, quick: bool) -> str:
    """``section`` naming results.json for its raw figures, not the sibling's own JSON."""
    own = document.shown(document.output(f"{name}.json", quick))
    run = document.shown(document.output("results.json", quick))
    return section.replace(
        f"Raw figures: `{own}`.", f"Raw figures: `{run}` (`parts.{name}.result`)."
    )


# --- ingest --------------------------------------------------------------------------------


def ingest_part(quick: bool, tmp: Path) -> Part:
    if not INGEST.exists():
        return Part({"status": "absent"})
    module = importlib.import_module("benchmarks.ingest")
    entry = getattr(module, "benchmark", None)
    known = {"quick": quick, "profile": None, "tmp": tmp}
    if callable(entry) and callable_with(entry, known):
        params = inspect.signature(entry).parameters
        report = entry(**{name: known[name] for name in params if name in known})
        return imported(report, getattr(module, "RATIOS", None), quick)
    return subprocess_part(quick)


def callable_with(entry: Callable[..., Any], known: dict[str, Any]) -> bool:
    """Whether every parameter without a default is one we can give."""
    params = inspect.signature(entry).parameters.values()
    return all(p.name in known or p.default is not p.empty for p in params)


def imported(report: Any, ratios: Any, quick: bool) -> Part:
    result = as_json(report)
    section = report.section() if callable(getattr(report, "section", None)) else None
    if section is not None:
        section = pointed(section, "ingest", quick)
    return Part({"status": "ok", "via": "import", **result}, section, targets_of(result, ratios))


def as_json(report: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(report) and not isinstance(report, type):
        return dataclasses.asdict(report)
    return dict(report) if isinstance(report, dict) else {"report": repr(report)}


def targets_of(result: dict[str, Any], ratios: Any) -> list[Target]:
    """Targets from the report's ``ratios`` and the module's ``RATIOS`` (as in worker.py).

    A ratio without a known bound is left to the sibling's own section.
    """
    measured, why = result.get("ratios") or {}, ingest_why(result)
    return [
        Target("ingest", label, measured[key], bound, kind=kind_of(bound),
               why=why.get(key, WHY_UNKNOWN))
        for key, label, bound in ratios or ()
        if key in measured
    ]  # fmt: skip


def subprocess_part(quick: bool) -> Part:
    """``python benchmarks/ingest.py [--quick]``: JSON from stdout or ``ingest.json`` if fresh."""
    started = time.time()
    argv = [sys.executable, str(INGEST), *(["--quick"] * quick)]
    done = subprocess.run(argv, cwd=HERE.parent, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr[-2000:]}")
    result, raw = parsed(done.stdout), document.output("ingest.json", quick)
    if result is None and raw.exists() and raw.stat().st_mtime >= started:
        result = json.loads(raw.read_text())
    result = result if result is not None else {"stdout": done.stdout[-4000:]}
    return Part({"status": "ok", "via": "subprocess", **result}, None, targets_of(result, None))


def parsed(stdout: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(stdout)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None
