"""RESULTS.md as ``## `` sections: ours replaced in a fixed order, everyone else's kept.

Where every benchmark writes: a full run into ``benchmarks/`` (the committed
RESULTS.md, results.json, chart and the siblings' JSON), a quick run into
``benchmarks/quick/`` (git-ignored), so that a smoke run never replaces
full-run figures.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
QUICK = HERE / "quick"
TITLE = "# Benchmarks"
QUICK_TITLE = "# Benchmarks — quick run"
QUICK_NOTE = (
    "Written by `--quick`: smaller workloads and shorter windows, a smoke run whose "
    "figures are indicative only. The full-run figures are in `benchmarks/RESULTS.md`."
)
ORDER = ("Run", "Ingest", "Worker", "End to end", "Scale")

_SECTION = re.compile(r"^## (.+?)\n.*?(?=^## |\Z)", re.M | re.S)


def output(name: str, quick: bool) -> Path:
    """``name`` in ``benchmarks/`` (full run) or ``benchmarks/quick/`` (quick run)."""
    return (QUICK if quick else HERE) / name


def shown(path: Path) -> str:
    """``path`` as a section names it: relative to the repository."""
    return str(path.relative_to(ROOT))


def write_json(name: str, doc: Any, quick: bool) -> Path:
    path = output(name, quick)
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return path


def sections(document: str) -> dict[str, str]:
    """Each ``## Title`` section by title, in document order, text up to the next one."""
    return {m.group(1).strip(): m.group(0).rstrip("\n") + "\n" for m in _SECTION.finditer(document)}


def compose(current: str, ours: dict[str, str], quick: bool = False) -> str:
    """``current`` with ``ours`` (title → section text) put in; ``ORDER`` first, then the rest.

    A section of ``current`` that is not in ``ours`` (the ingest benchmark's own,
    or anyone's) is kept as it is.
    """
    kept = sections(current)
    merged = {**kept, **{title: text.rstrip("\n") + "\n" for title, text in ours.items()}}
    titles = [t for t in ORDER if t in merged] + [t for t in merged if t not in ORDER]
    head = [QUICK_TITLE, "", QUICK_NOTE, ""] if quick else [TITLE, ""]
    return "\n".join([*head, *(merged[t] for t in titles)])


def update(ours: dict[str, str], quick: bool) -> Path:
    """Put ``ours`` into the RESULTS.md of the mode, read as late as possible (others write it)."""
    path = output("RESULTS.md", quick)
    path.parent.mkdir(exist_ok=True)
    current = path.read_text() if path.exists() else ""
    path.write_text(compose(current, ours, quick))
    return path
