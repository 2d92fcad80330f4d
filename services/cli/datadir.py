"""A data directory of ``txflow up``: a lock held for its life, and what it runs.

``up`` holds an exclusive ``flock`` on ``<dir>/up.lock`` (its pid written in
it) until it exits, however it exits: the kernel drops the lock with the
process, so a ``kill -9`` leaves no stale lock. A second ``up`` on the same
directory is refused, naming the first one's pid: two Redis servers must
never write one AOF.

Once its stack is ready, ``up`` records ``<dir>/up.json`` (its pid, the
Redis URL, the ingest URL). ``status``, ``load``, ``dlq`` and ``replay`` read it
when ``REDIS_URL`` is not set: a record counts only while its lock is held.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from shared.errors import TxflowError

LOCK, RECORD = "up.lock", "up.json"


class AlreadyRunning(TxflowError):
    """Raised when another ``txflow up`` holds the data directory."""


@dataclass(frozen=True)
class Running:
    """What a running ``txflow up`` records in its data directory."""

    pid: int
    redis_url: str
    api: str


@contextmanager
def claim(data_dir: Path) -> Iterator[None]:
    """Hold ``data_dir`` for this process; raise ``AlreadyRunning`` if another holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by children
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise AlreadyRunning(
            f"another txflow up (pid {holder}) is running on {data_dir}: "
            "stop it, or give another --data-dir"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with suppress(FileNotFoundError):
            (data_dir / RECORD).unlink()
        os.close(fd)  # releases the lock


def record(data_dir: Path, running: Running) -> None:
    """Write what this ``up`` runs (call while holding the directory)."""
    temporary = data_dir / f"{RECORD}.tmp"
    temporary.write_bytes(orjson.dumps(asdict(running)))
    temporary.replace(data_dir / RECORD)


def running(data_dir: Path) -> Running | None:
    """What the ``txflow up`` holding ``data_dir`` runs; ``None`` when none holds it."""
    try:
        fd = os.open(data_dir / LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None  # nobody holds it: whatever up.json says is stale
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
    try:
        doc = orjson.loads((data_dir / RECORD).read_bytes())
        return Running(int(doc["pid"]), str(doc["redis_url"]), str(doc["api"]))
    except (FileNotFoundError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None  # held, but its stack is not ready yet
