"""RESULTS.md as ``## `` sections: ours replaced in a fixed order, everyone else's kept."""

from __future__ import annotations

import re

TITLE = "# Benchmarks"
ORDER = ("Run", "Ingest", "Worker", "End to end", "Scale")

_SECTION = re.compile(r"^## (.+?)\n.*?(?=^## |\Z)", re.M | re.S)


def sections(document: str) -> dict[str, str]:
    """Each ``## Title`` section by title, in document order, text up to the next one."""
    return {m.group(1).strip(): m.group(0).rstrip("\n") + "\n" for m in _SECTION.finditer(document)}


def compose(current: str, ours: dict[str, str]) -> str:
    """``current`` with ``ours`` (title → section text) put in; ``ORDER`` first, then the rest.

    A section of ``current`` that is not in ``ours`` (the ingest benchmark's own,
    or anyone's) is kept as it is.
    """
    kept = sections(current)
    merged = {**kept, **{title: text.rstrip("\n") + "\n" for title, text in ours.items()}}
    titles = [t for t in ORDER if t in merged] + [t for t in merged if t not in ORDER]
    return "\n".join([TITLE, "", *(merged[t] for t in titles)])
