"""``txflow status``'s table, rendered as a terminal would show it (no Redis needed)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from services.cli.status import ShardStatus, Snapshot, WorkerStatus, render


def snapshot(shards: int, nodes: list[str]) -> Snapshot:
    owners = ["devbox-1234567-ab12", "devbox-1234568-cd34"]
    rows: list[ShardStatus] = [
        {
            "shard": s,
            "node": nodes[s % len(nodes)],
            "owner": owners[s % 2],
            "epoch": 12,
            "ckpt": "1764520000000-0",
            "lag": 100_000,
            "pending": 500,
            "oldest_pending_ms": 12_345,
            "dlq": 3,
            "parked": 0,
            "held": 0,
            "appended": None,
            "committed": None,
        }
        for s in range(shards)
    ]
    workers: list[WorkerStatus] = [
        {"id": w, "expires_in_ms": 9_800, "shards": list(range(n, shards, 2))}
        for n, w in enumerate(owners)
    ]
    return {"shards": rows, "workers": workers}


def on_screen(snap: Snapshot, width: int = 80) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(render(snap))
    return console.export_text().rstrip("\n").split("\n")


@pytest.mark.parametrize(
    "nodes", [["127.0.0.1:45678"], ["10.0.0.1:7000", "10.0.0.2:7001", "10.0.0.3:7002"]]
)
def test_sixteen_shards_fit_an_80_by_24_terminal(nodes: list[str]) -> None:
    lines = on_screen(snapshot(16, nodes))
    assert max(len(line) for line in lines) <= 80
    assert len(lines) <= 23  # and the cursor's line: --watch redraws within 24
    text = "\n".join(lines)
    for needed in ("devbox-1234567-ab12", "devbox-1234568-cd34", *nodes, "12.3s"):
        assert needed in text  # whole, not cut or folded


def test_parked_accounts_are_one_line_under_the_table_and_it_still_fits() -> None:
    snap = snapshot(16, ["10.0.0.1:7000", "10.0.0.2:7001", "10.0.0.3:7002"])
    for row in snap["shards"]:
        row["parked"], row["held"] = 0, 0
    snap["shards"][3]["parked"], snap["shards"][3]["held"] = 2, 41
    lines = on_screen(snap)
    assert max(len(line) for line in lines) <= 80 and len(lines) <= 23
    assert "parked: 2 accounts, 41 entries held (shards 3)" in "\n".join(lines)
    snap["shards"][3]["parked"] = 0
    assert "parked" not in "\n".join(on_screen(snap))  # nothing parked: not a word of it


def test_live_workers_are_one_line_each_name_whole() -> None:
    # The line used to be the table's caption, wrapped at the table's width
    # (54 columns on one node): a worker's name and its heartbeat on two lines.
    lines = on_screen(snapshot(16, ["127.0.0.1:45678"]))
    assert max(len(line) for line in lines) <= 80 and len(lines) <= 23
    for worker in ("devbox-1234567-ab12 (9.8s)", "devbox-1234568-cd34 (9.8s)"):
        assert any(worker in line for line in lines), lines
