"""``txflow up``: the whole system in the foreground, until Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from services.cli import datadir
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


def up(
    settings: Settings, redis_url: str | None, workers: int, host: str, port: int, data_dir: Path
) -> int:
    """Run the stack until Ctrl-C, SIGTERM or SIGHUP (a closed terminal); 1 if ingest dies.

    ``redis_url``: the Redis to use (``REDIS_URL``), else its own in ``data_dir``.
    """
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, request_stop)
    with datadir.claim(data_dir):
        printer = Printer(sys.stdout.isatty())
        stack = LocalStack(
            workers, host, port, redis_url, data_dir, cluster=settings.redis_cluster, sink=printer
        )
        try:
            stack.start()
            assert stack.redis_url is not None
            datadir.record(data_dir, datadir.Running(os.getpid(), stack.redis_url, stack.api))
            print(banner(stack, settings), flush=True)
            return watch(stack, stop)
        finally:
            stack.stop()


def watch(stack: LocalStack, stop: threading.Event) -> int:
    while not stop.wait(0.5):
        for name, status in stack.exited():
            if name == "ingest":
                print(f"txflow up: ingest exited with status {status}; stopping", file=sys.stderr)
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


def banner(stack: LocalStack, settings: Settings) -> str:
    where = "its own Redis" if stack.redis is not None else "REDIS_URL"
    pids = "  ".join(f"{name} {pid}" for name, pid in stack.pids().items())
    lines = [
        f"txflow is up: ingest + {stack.workers} workers on {where} ({stack.redis_url})",
        f"  API      {stack.api}/v1/transactions",
        f"  docs     {stack.api}/docs (Swagger UI), {stack.api}/openapi.json",
        f"  console  {stack.api}/console",
        f"  metrics  {stack.api}/metrics",
        f"  status   txflow status (here; elsewhere REDIS_URL={stack.redis_url})",
        f"  pids     {pids}",
        f"  {describe(settings.api_token)}",
    ]
    if stack.redis is not None:
        lines.append(f"  data     {stack.data_dir.resolve()}")
    return "\n".join([*lines, "Ctrl-C stops everything."])
