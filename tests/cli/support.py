"""Running the txflow command in tests, and the input files it reads."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

TXFLOW = [sys.executable, "-m", "services.cli"]


def txflow(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**without_redis_url(), **(env or {})}  # REDIS_URL only when a test gives it
    return subprocess.run(
        [*TXFLOW, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd
    )


def without_redis_url() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "REDIS_URL"}


def write_mixed(path: Path, rows: int, clients: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w") as f:
        f.write("type, client, tx, amount\n")
        for n in range(1, rows + 1):
            client = rng.randrange(clients)
            roll = rng.random()
            if roll < 0.55:
                f.write(
                    f"deposit, {client}, {n}, {rng.randrange(1, 500)}.{rng.randrange(100):02d}\n"
                )
            elif roll < 0.8:
                f.write(f"withdrawal, {client}, {n}, {rng.randrange(1, 300)}\n")
            elif roll < 0.97:
                kind = rng.choice(["dispute", "resolve", "chargeback"])
                f.write(f"{kind}, {client}, {rng.randrange(1, n + 1)},\n")
            else:
                f.write("deposit, oops\n")
