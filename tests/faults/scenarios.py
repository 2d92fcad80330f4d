"""Fault scenarios as functions: used by the CI tests and by the soak mode.

Each fault is driven by conditions (who owns what), never by a fixed sleep:
it waits until the system reacted before injecting the next one.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from services.cli.redis_process import RedisProcess
from tests.faults.proxy import StallingProxy
from tests.polling import wait_for
from tests.stack import Stack

TAKEOVER_S = 30  # generous bound for a takeover on a loaded 2-core machine


@dataclass
class Faults:
    """The system under test and what has been done to it."""

    stack: Stack
    server: RedisProcess
    workers: list[str] = field(default_factory=list)
    injected: dict[str, int] = field(default_factory=dict)
    serial: int = 0

    def count(self, kind: str) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + 1

    def start_worker(self, redis_url: str | None = None) -> str:
        self.serial += 1
        name = f"w{self.serial}"
        self.stack.start_worker(name, redis_url)
        self.workers.append(name)
        return name

    def replace_exited(self) -> None:
        """Start a replacement for each worker that exited on its own, as a supervisor
        would, and count it. (A worker exits 1 when Redis cannot serve it at its start,
        e.g. while a restarted Redis loads its data: by design, compose restarts it.)"""
        for name in list(self.workers):
            code = self.stack.procs[name].poll()
            if code is not None:
                self.workers.remove(name)
                self.start_worker()
                self.count(f"worker exited {code} on its own, restarted")

    def wait_owning(self, name: str) -> None:
        wait_for(lambda: self.stack.owned_by(name), TAKEOVER_S, f"{name} to own shards")

    def wait_heartbeating(self, names: list[str]) -> None:
        """Until each of ``names`` heartbeats: that comes after its SIGTERM handler is
        installed, and a SIGTERM before kills it (-15) instead of stopping it."""
        wait_for(
            lambda: all(self.stack.heartbeats(name) for name in names),
            TAKEOVER_S,
            f"{', '.join(names)} to heartbeat",
        )

    def wait_all_owned(self) -> None:
        live = set(self.workers)

        def all_owned() -> bool:
            owners = set(self.stack.owners().values())
            return None not in owners and owners <= live

        wait_for(all_owned, TAKEOVER_S, "every shard owned by a live worker")

    def wait_converged(self) -> None:
        """Every shard owned by a live worker, none above its share ceil(N / live)."""
        share = -(-self.stack.shards // len(self.workers))

        def converged() -> bool:
            owners = list(self.stack.owners().values())
            live = set(self.workers)
            return all(o in live for o in owners) and all(owners.count(w) <= share for w in live)

        wait_for(converged, TAKEOVER_S, f"shares of at most {share} shards")

    def kill_worker(self, rng: random.Random) -> None:
        """kill -9 a worker that owns shards, start a replacement, wait for takeover."""
        victim = rng.choice(self.workers)
        self.wait_owning(victim)
        self.stack.signal(victim, signal.SIGKILL)
        self.stack.procs[victim].wait(10)
        self.workers.remove(victim)
        self.start_worker()
        self.wait_all_owned()
        self.count("worker kill -9")

    def pause_worker(self, rng: random.Random) -> None:
        """SIGSTOP a worker past its lease; SIGCONT once its shards were taken over."""
        zombie = rng.choice(self.workers)
        self.wait_owning(zombie)
        if len(self.workers) == 1:
            self.start_worker()
        lost = self.stack.owned_by(zombie)
        self.stack.signal(zombie, signal.SIGSTOP)
        wait_for(lambda: not (self.stack.owned_by(zombie) & lost), TAKEOVER_S, "takeover")
        self.stack.signal(zombie, signal.SIGCONT)
        self.count("worker SIGSTOP past its lease")

    def crash_redis(self, rng: random.Random) -> None:
        """kill -9 Redis and restart it on the same data directory."""
        self.server.kill()
        self.server.start()
        self.count("redis kill -9 and restart")

    def stall_network(self, rng: random.Random) -> None:
        """A worker behind a proxy that freezes longer than the lease, then thaws."""
        proxy = StallingProxy(self.server.port).start()
        try:
            name = self.start_worker(proxy.url)
            self.wait_owning(name)
            held = self.stack.owned_by(name)
            proxy.freeze()
            wait_for(lambda: not (self.stack.owned_by(name) & held), TAKEOVER_S, "takeover")
            proxy.thaw()
            self.wait_owning(name)  # it recovered and took a share again
        finally:
            self.stack.signal(name, signal.SIGKILL)
            self.stack.procs[name].wait(10)
            self.workers.remove(name)
            proxy.stop()
        self.count("network stall past the lease")

    def scale(self, rng: random.Random) -> None:
        """Up by three workers, then back down with SIGTERM."""
        added = [self.start_worker() for _ in range(3)]
        self.wait_converged()
        assert any(self.stack.owned_by(name) for name in added)
        self.wait_heartbeating(added)
        for name in added:
            self.stack.signal(name, signal.SIGTERM)
            assert self.stack.procs[name].wait(30) == 0
            self.workers.remove(name)
        self.wait_all_owned()
        self.count("scale up 3, down 3")


Fault = Callable[[Faults, random.Random], None]

KINDS: dict[str, Fault] = {
    "kill": Faults.kill_worker,
    "pause": Faults.pause_worker,
    "redis": Faults.crash_redis,
    "stall": Faults.stall_network,
    "scale": Faults.scale,
}
