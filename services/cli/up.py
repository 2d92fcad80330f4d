"""``txflow up``: the whole system in the foreground, until Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from services.cli.stack import LocalStack
from services.ingest.auth import describe
from shared.settings import Settings

COLORS = ["36", "33", "35", "32", "34", "31"]


class Printer:
    """Interleaves the children's lines, each with its process name as a prefix."""

    def __init__(self, color: bool) -> None:
        self.color = color
        self.lock = threading.Lock()
        self.palette: dict[str, str] = {}

    def __call__(self, name: str, line: str) -> None:
        prefix = f"{name:>9} |"
        if self.color:
            code = self.palette.setdefault(name, COLORS[len(self.palette) % len(COLORS)])
            prefix = f"\033[{code}m{prefix}\033[0m"
        with self.lock:
            print(f"{prefix} {line}", flush=True)


def up(workers: int, host: str, port: int, data_dir: Path) -> int:
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    redis_url = os.environ.get("REDIS_URL")
    stack = LocalStack(workers, host, port, redis_url, data_dir, sink=Printer(sys.stdout.isatty()))
    try:
        stack.start()
        print(banner(stack), flush=True)
        while not stop.wait(0.5):
            for name, status in stack.exited():
                if name == "ingest":
                    print(
                        f"txflow up: ingest exited with status {status}; stopping", file=sys.stderr
                    )
                    return 1
                # A worker that dies is what txflow is built for: the others take
                # its shards within one lease TTL. It is not restarted, so you can watch.
                print(
                    f"txflow up: {name} exited ({status}); the others take over its shards",
                    file=sys.stderr,
                    flush=True,
                )
        print("txflow up: stopping (ingest, then workers, then Redis)", flush=True)
        return 0
    finally:
        stack.stop()


def banner(stack: LocalStack) -> str:
    where = "its own Redis" if stack.redis is not None else "REDIS_URL"
    return "\n".join(
        [
            f"txflow is up: ingest + {stack.workers} workers on {where} ({stack.redis_url})",
            f"  API      {stack.api}/v1/transactions",
            f"  docs     {stack.api}/docs",
            f"  metrics  {stack.api}/metrics",
            f"  status   txflow status   (REDIS_URL={stack.redis_url})",
            f"  {describe(Settings().api_token)}",
            f"  data     {stack.data_dir.resolve()}" if stack.redis is not None else "",
            "Ctrl-C stops everything.",
        ]
    )
