"""``txflow replay`` through ingest and workers on the cluster equals the memory engine."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.cli.support import TXFLOW, txflow, write_mixed

pytestmark = pytest.mark.slow


def test_replay_on_the_cluster_equals_the_memory_engine(cluster_url: str, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    write_mixed(path, rows=4000, clients=300, seed=13)
    memory = txflow("replay", "--engine", "memory", str(path))
    env = {"REDIS_URL": cluster_url, "TXFLOW_REDIS_CLUSTER": "1"}
    services = txflow("replay", str(path), env=env)
    assert memory.returncode == services.returncode == 3, services.stderr  # rows were skipped
    assert services.stdout == memory.stdout
    assert len(memory.stdout.splitlines()) > 250
    # outcomes counted from the :out streams of the cluster's nodes
    assert services.stderr.splitlines()[-1] == memory.stderr.splitlines()[-1]


def test_replay_in_cluster_mode_without_a_cluster_url_is_one_line(tmp_path: Path) -> None:
    # txflow starts a single Redis of its own only: cluster mode needs REDIS_URL.
    path = tmp_path / "in.csv"
    path.write_text("deposit, 1, 1, 1.0\n")
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"} | {"TXFLOW_REDIS_CLUSTER": "1"}
    done = subprocess.run(
        [*TXFLOW, "replay", str(path)], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    # which Redis it meant to use, then why it cannot: a line each
    note, error = done.stderr.splitlines()
    assert "REDIS_URL is not set" in note and "needs REDIS_URL" in error, done.stderr
