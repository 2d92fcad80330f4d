"""Hostile clients against a real ingest process: raw sockets, and a health prober.

``Ingest`` runs ``python -m services.ingest`` with short limits and a low
descriptor limit (``NOFILE``), as the common 1024 is, scaled down; ``Probe``
polls ``/healthz`` on a new connection each time, as an orchestrator does,
with a short client timeout, while an attack runs.
"""

from __future__ import annotations

import os
import resource
import select
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from services.cli.probe import wait_until_up
from services.cli.redis_process import free_port

ROOT = Path(__file__).resolve().parents[2]

NOFILE = 160
"""RLIMIT_NOFILE of the ingest process: the cap it derives is (160 - 64) // 2 = 48."""

LIMITS = {
    "TXFLOW_MAX_HEADER_BYTES": "8192",
    "TXFLOW_HEADER_TIMEOUT_S": "1",
    "TXFLOW_BODY_TIMEOUT_S": "1",
    "TXFLOW_KEEP_ALIVE_S": "1",
}

PROBE_TIMEOUT_S = 2.0
"""A health check that takes longer counts as failed (orchestrators use 1 to 5 s)."""


def _low_nofile() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


@dataclass
class Ingest:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    redis_url: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def rss(self) -> int:
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @classmethod
    @contextmanager
    def running(cls, redis_url: str, logs: Path) -> Iterator[Ingest]:
        port = free_port()
        env = os.environ | LIMITS | {"REDIS_URL": redis_url, "TXFLOW_SHARDS": "4"}
        env.pop("TXFLOW_API_TOKEN", None)
        log_path = logs / "ingest.log"
        with log_path.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "services.ingest", "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=out,
                preexec_fn=_low_nofile,
            )
        ingest = cls(proc, port, log_path, redis_url)
        try:
            wait_until_up(f"{ingest.url}/healthz", watch={"ingest": proc}, timeout=30)
            yield ingest
        finally:
            proc.kill()
            proc.wait()


@dataclass
class Probe:
    """Health checks and the ingest's peak RSS while an attack runs."""

    url: str
    pid: int
    answers: Counter[int | str] = field(default_factory=Counter)
    rss_peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        process = psutil.Process(self.pid)
        while not self._stop.wait(0.1):
            self.rss_peak = max(self.rss_peak, process.memory_info().rss)
            try:
                status = httpx.get(f"{self.url}/healthz", timeout=PROBE_TIMEOUT_S).status_code
                self.answers[status] += 1
            except httpx.HTTPError as e:
                self.answers[type(e).__name__] += 1

    def count(self) -> int:
        return sum(self.answers.values())

    def assert_healthy(self) -> None:
        assert self.count() >= 3, "too few health checks ran during the attack"
        assert set(self.answers) == {200}, f"health checks during the attack: {self.answers}"


@contextmanager
def probing(ingest: Ingest) -> Iterator[Probe]:
    probe = Probe(ingest.url, ingest.proc.pid)
    thread = threading.Thread(target=probe.run, daemon=True)
    thread.start()
    try:
        yield probe
    finally:
        probe._stop.set()
        thread.join()


def answered(sock: socket.socket) -> bool:
    """Whether the server wrote or closed (the socket is readable)."""
    return bool(select.select([sock], [], [], 0)[0])


def answer(sock: socket.socket) -> bytes:
    """What the server wrote before closing (``b""`` when it only closed or reset)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except OSError:  # reset: the server closed with our bytes unread
        pass
    sock.close()
    return b"".join(chunks)


def status_of(response: bytes) -> int | None:
    """The status code of a raw HTTP/1.1 response, ``None`` for no response."""
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else None
