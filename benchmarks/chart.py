"""The end-to-end chart: achieved throughput and latency against offered load, as one PNG.

Needs the ``bench`` extra (matplotlib); drawn with the Agg backend, no display.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def draw(e2e: dict[str, Any], out: Path, title: str) -> None:
    """Left: achieved vs offered tx/s (and the raw pipeline); right: p50 / p99 latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = e2e["sweep"]
    offered = [p["offered_tx_s"] for p in points]
    labels = [f"{p['offered_tx_s']:,.0f}\n({p['fraction']:.0%})" for p in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
    left.plot(offered, [p["achieved_tx_s"] for p in points], "o-", label="achieved (txflow)")
    left.plot(offered, offered, ":", color="grey", label="achieved = offered")
    left.axhline(e2e["txflow"]["applied_tx_s"], color="C2", ls="--", label="peak (flat out)")
    left.set(xlabel="offered tx/s (share of peak)", ylabel="applied tx/s")
    left.set_ylim(bottom=0)
    left.set_title(f"throughput (raw pipeline: {e2e['raw']['tx_s']:,.0f} tx/s)", fontsize=10)
    right.plot(offered, [p["p50_ms"] for p in points], "o-", label="p50")
    right.plot(offered, [p["p99_ms"] for p in points], "s-", label="p99")
    right.set(xlabel="offered tx/s (share of peak)", ylabel="accepted → applied, ms")
    right.set_ylim(bottom=0)
    right.set_title("latency", fontsize=10)
    for axes in (left, right):
        axes.set_xticks(offered, labels, fontsize=8)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.savefig(out, dpi=110)
    plt.close(fig)
