"""A whole txflow on one machine: Redis, ingest and W workers as child processes.

Redis is the ``REDIS_URL`` given, else a local server (``redis-server`` on
PATH, else the embedded one) keeping its AOF in the data directory, so a
restart keeps state. Children run in their own sessions so that Ctrl-C
reaches only this process, which then stops them in order: ingest first (no
new work), then workers (each commits its batch and releases its leases),
then Redis.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from services.cli.lifeline import die_with_parent
from services.cli.probe import wait_until_up
from services.cli.redis_process import RedisProcess
from shared.errors import ConfigError

Sink = Callable[[str, str], None]  # (process name, line)
TAIL_LINES = 15  # of a failed child's log, shown when the stack does not start


class StackFailed(RuntimeError):
    """Raised when the stack did not become ready; says why, with the end of the logs."""


@dataclass
class LocalStack:
    workers: int = 2
    host: str = "127.0.0.1"
    port: int = 8000
    redis_url: str | None = None
    data_dir: Path = Path(".txflow")
    shards: int | None = None
    cluster: bool = False  # TXFLOW_REDIS_CLUSTER: redis_url is a node of a cluster
    sink: Sink | None = None  # None: children's output goes to data_dir/logs
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    lost: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    redis: RedisProcess | None = None

    @property
    def api(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60) -> LocalStack:
        if self.redis_url is None:
            if self.cluster:
                raise ConfigError("TXFLOW_REDIS_CLUSTER=1 needs REDIS_URL (a node of the cluster)")
            self.redis = RedisProcess(self.data_dir / "redis", persistence="everysec").start()
            self.redis_url = self.redis.url
        self._spawn("ingest", "services.ingest", "--host", self.host, "--port", str(self.port))
        for n in range(1, self.workers + 1):
            self._spawn(f"worker-{n}", "services.worker")
        # Ready, not just alive: Redis answers and the deployment is set up; and
        # answered by our ingest, not by another one on the same port.
        ingest = self.children["ingest"].pid
        try:
            wait_until_up(
                f"{self.api}/readyz", watch=self.children, timeout=timeout, every=0.1, pid=ingest
            )
        except RuntimeError as e:
            failed = StackFailed(f"{e}{self._tails()}")
            self.stop()  # what did start: `with` runs no __exit__ when __enter__ raises
            raise failed from None
        return self

    def _tails(self) -> str:
        """The end of the log of each child that exited (of ingest if none did).

        Only for logs written to files: a sink has shown every line already.
        The files may be in a temporary directory about to be removed.
        """
        if self.sink is not None:
            return ""
        exited = [n for n, p in self.children.items() if p.poll() is not None] or ["ingest"]
        tails = []
        for name in exited:
            lines = (self.data_dir / "logs" / f"{name}.log").read_text(errors="replace")
            tail = "\n".join(f"  {line}" for line in lines.splitlines()[-TAIL_LINES:])
            tails.append(f"\n--- the end of {name}'s log ---\n{tail}")
        return "".join(tails)

    def pids(self) -> dict[str, int]:
        """Every running child's pid by name, Redis first when it is ours."""
        found = {"redis": self.redis.proc.pid} if self.redis and self.redis.proc else {}
        return found | {name: proc.pid for name, proc in self.children.items()}

    def _env(self) -> dict[str, str]:
        env = {**os.environ, "REDIS_URL": str(self.redis_url), "PYTHONUNBUFFERED": "1"}
        if self.shards is not None:
            env["TXFLOW_SHARDS"] = str(self.shards)
        return env

    def _spawn(self, name: str, module: str, *args: str) -> None:
        argv = [sys.executable, "-m", module, *args]
        if self.sink is None:
            logs = self.data_dir / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            with (logs / f"{name}.log").open("ab") as out:
                proc = self._popen(argv, out)
        else:
            proc = self._popen(argv, subprocess.PIPE)
            assert proc.stdout is not None
            threading.Thread(target=self._pump, args=(name, proc.stdout), daemon=True).start()
        self.children[name] = proc

    def _popen(self, argv: list[str], out: IO[bytes] | int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            env=self._env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )

    def _pump(self, name: str, stream: IO[bytes]) -> None:
        assert self.sink is not None
        for raw in stream:
            self.sink(name, raw.decode(errors="replace").rstrip())

    def exited(self) -> list[tuple[str, int]]:
        """Children that exited on their own since the last call: (name, status)."""
        gone = [(n, p.returncode) for n, p in self.children.items() if p.poll() is not None]
        for name, _ in gone:
            self.lost[name] = self.children.pop(name)
        return gone

    def stop(self, timeout: float = 15) -> None:
        """Ingest first (no new work), then every worker at once, then Redis."""
        self._terminate([p for n, p in self.children.items() if n == "ingest"], timeout)
        self._terminate([p for n, p in self.children.items() if n != "ingest"], timeout)
        if self.redis is not None:
            self.redis.stop()

    @staticmethod
    def _terminate(procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
        running = [p for p in procs if p.poll() is None]
        for proc in running:
            proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in running:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
