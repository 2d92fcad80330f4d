"""The soak's replicated deployment: a primary, a replica and three sentinels.

Ingest and workers find the primary through the sentinels with
``TXFLOW_MIN_REPLICAS=1``. The soak's own clients (owners, lease sampler,
medic, checker) reach whichever server is primary through a proxy, retargeted
at each failover, so they need not know about Sentinel.

Its fault, ``kill_primary``: kill -9 the primary the sentinels name, once they
see its replica in sync; wait until every sentinel names the replica; bring the
old primary back (no AOF) as the new one's replica (as an operator would). Until
it is back nothing is accepted (503) and no commit is acknowledged: the new
primary has no replica to wait for. The sentinels declare a primary down after
5 s without an answer, not 1 s: on a loaded machine a shorter wait fails over
on its own, between two faults, and the soak's clients would find a replica
behind the proxy.

The lease sampler keeps its (shard, epoch) owners across failovers. An epoch
drawn on the lost primary and never replicated may be drawn again by another
worker on the promoted one: the checker's (e) would call that two owners,
though the commit script tells them apart (``tests/ha/test_fencing_failover.py``).
Not seen so far: an acquisition reaches the replica within a millisecond.
"""

from __future__ import annotations

from pathlib import Path

import redis

from services.cli.redis_process import RedisProcess
from tests.faults.proxy import StallingProxy
from tests.faults.scenarios import TAKEOVER_S, Faults
from tests.ha.sentinel import SERVICE, SentinelProcess, primary_port, ready, replica_in_sync
from tests.polling import wait_for

FAST = ["--repl-diskless-sync-delay", "0"]


class Replicated:
    def __init__(self, workdir: Path) -> None:
        self.primary = RedisProcess(workdir / "redis0", extra=FAST).start()
        follow = ["--replicaof", "127.0.0.1", str(self.primary.port)]
        self.replica = RedisProcess(workdir / "redis1", extra=[*FAST, *follow]).start()
        self.front = StallingProxy(self.primary.port).start()
        self.sentinels = [
            SentinelProcess(workdir / f"sentinel{n}", monitor=self.primary.port, down_after_ms=5000)
            for n in range(3)
        ]
        for sentinel in self.sentinels:
            sentinel.start()
        self.wait_replica_known()

    @property
    def url(self) -> str:
        return self.front.url

    @property
    def settings(self) -> dict[str, str]:
        """What ingest and the workers are given."""
        return {
            "TXFLOW_SENTINELS": ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels),
            "TXFLOW_SENTINEL_SERVICE": SERVICE,
            "TXFLOW_MIN_REPLICAS": "1",
            "TXFLOW_REPLICA_TIMEOUT_MS": "500",
        }

    def wait_replica_known(self) -> None:
        client = redis.Redis(port=self.primary.port)
        try:  # in sync: WAIT answers for this connection's last write
            wait_for(
                lambda: client.incr("soak:sync") and client.wait(1, 100) >= 1,
                TAKEOVER_S * 2,
                "the replica in sync",
            )
        finally:
            client.close()
        for s in self.sentinels:
            wait_for(
                lambda s=s: ready(s, 1, 2) and replica_in_sync(s, self.replica.port),
                TAKEOVER_S * 2,
                "every sentinel seeing the replica in sync",
            )

    def kill_primary(self, faults: Faults) -> None:
        named = {primary_port(s) for s in self.sentinels}
        assert named == {self.primary.port}, f"the sentinels failed over on their own: {named}"
        self.wait_replica_known()
        lost, promoted = self.primary, self.replica
        lost.kill()
        wait_for(
            lambda: all(primary_port(s) == promoted.port for s in self.sentinels),
            TAKEOVER_S,
            "the replica promoted",
        )
        self.front.target_port = promoted.port
        self.front.cut()  # the soak's clients reconnect, to the new primary
        faults.server = self.primary = promoted
        lost.extra = [*FAST, "--replicaof", "127.0.0.1", str(promoted.port)]
        lost.start()  # no AOF (at most the RDB of a past sync): it copies the new primary
        self.replica = lost
        faults.count("primary kill -9, replica promoted")

    def stop(self) -> None:
        for server in [*self.sentinels, self.primary, self.replica]:
            server.stop()
        self.front.stop()
