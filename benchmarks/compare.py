"""The worker of several git revisions, alternately, over the same streams.

``python benchmarks/compare.py REV [REV ...] [--rounds 3]``

Each revision is checked out in a temporary worktree, and its burst worker
(``python -m services.worker --burst`` run in that tree) drains the worker
part's 200,000 transactions on 10,000 accounts. The revisions take turns,
round after round, on a freshly filled Redis: own CPU per transaction net of
start-up, Redis CPU per transaction and peak RSS, medians. Absolute figures
move with the machine from one run to the next; taking turns within one run is
how RESULTS.md compares the worker before and after a change. The harness,
the deployment it makes and the Python environment are this checkout's: a
revision must read streams and a deployment this code writes.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

if __package__ in (None, ""):  # run as ``python benchmarks/compare.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.rig import ROOT, redis_rig, transactions
from benchmarks.worker import ACCOUNTS, WORKER


def checkout(revision: str, into: Path, stack: ExitStack) -> Path:
    """A detached worktree of ``revision`` at ``into``, removed when ``stack`` closes."""
    git = ["git", "-C", str(ROOT), "worktree"]
    subprocess.run([*git, "add", "--detach", "--quiet", str(into), revision], check=True)
    stack.callback(subprocess.run, [*git, "remove", "--force", str(into)], check=False)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revisions", nargs="+", help="git revisions (commits, branches, tags)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    entries = WORKER[False][0]
    txs = list(transactions(ACCOUNTS, entries))
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="txflow-compare-")))
        trees = {r: checkout(r, tmp / f"tree-{n}", stack) for n, r in enumerate(args.revisions)}
        found: dict[str, list[tuple[float, float, float]]] = {r: [] for r in trees}
        with redis_rig(tmp / "rig") as rig:
            fixed = {r: rig.fixed_cost(tree) for r, tree in trees.items()}
            for n in range(args.rounds):
                for revision, tree in trees.items():
                    rig.reset()
                    rig.fill(txs)
                    run = rig.burst(f"worker-{n}", tree)
                    if rig.committed() != entries:
                        raise RuntimeError(f"{revision}: {rig.committed()} of {entries} committed")
                    found[revision].append(
                        (
                            (run.cpu_s - fixed[revision].cpu_s) / entries * 1e6,
                            (run.redis_cpu_s - fixed[revision].redis_cpu_s) / entries * 1e6,
                            run.peak_rss_mb,
                        )
                    )
                print(f"round {n + 1}/{args.rounds} done", file=sys.stderr)
    print(f"{entries:,} transactions, {ACCOUNTS:,} accounts, {args.rounds} rounds, medians")
    print("| revision | own CPU µs/tx (rounds) | Redis CPU µs/tx | peak RSS MB |")
    print("|---|---:|---:|---:|")
    for revision, runs in found.items():
        cpu, redis_cpu, rss = (statistics.median(column) for column in zip(*runs, strict=True))
        rounds = ", ".join(f"{c:.1f}" for c, _, _ in runs)
        print(f"| `{revision}` | {cpu:.1f} ({rounds}) | {redis_cpu:.1f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
