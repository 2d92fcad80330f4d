"""A local Redis Cluster of primaries for tests: servers started and joined from Python.

Each node is a ``RedisProcess`` (``redis-server`` on PATH, else the embedded
``valkey-server``) with cluster mode on, AOF ``always`` and its own
``nodes.conf`` in its data directory, so a node killed -9 and restarted in
place comes back with its identity, its slots and every acknowledged write.

The cluster is formed without ``redis-cli --cluster create`` (which the
embedded package may not ship): slots are split into equal ranges with
``CLUSTER ADDSLOTSRANGE``, each node gets its own config epoch, and the nodes
``CLUSTER MEET`` the first one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from services.cli.redis_process import RedisProcess, free_port

SLOTS = 16384
# Short enough for a test to see a node fail; with full coverage off, a node
# that is down stops only its own slots (its shards), never the others.
CLUSTER_OPTIONS = [
    "--cluster-enabled", "yes",
    "--cluster-config-file", "nodes.conf",
    "--cluster-node-timeout", "5000",
    "--cluster-require-full-coverage", "no",
]  # fmt: skip


def slot_ranges(nodes: int) -> list[tuple[int, int]]:
    """``nodes`` contiguous, nearly equal ranges covering every slot."""
    bounds = [SLOTS * i // nodes for i in range(nodes + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(nodes)]


@dataclass
class LocalCluster:
    """``size`` primaries on 127.0.0.1, no replicas."""

    data_dir: Path
    size: int = 3
    nodes: list[RedisProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        """A startup node: the cluster client discovers the others from it."""
        return self.nodes[0].url

    def start(self, timeout: float = 30.0) -> LocalCluster:
        for n in range(self.size):
            bus = ["--cluster-port", str(free_port())]
            node = RedisProcess(self.data_dir / f"node-{n}", "always", extra=CLUSTER_OPTIONS + bus)
            self.nodes.append(node.start())
        self._form()
        self.wait_ok(timeout)
        return self

    def _form(self) -> None:
        first = self.nodes[0]
        for epoch, (node, (low, high)) in enumerate(
            zip(self.nodes, slot_ranges(self.size), strict=True), start=1
        ):
            with self.client(node) as c:
                c.execute_command("CLUSTER", "ADDSLOTSRANGE", low, high)
                c.execute_command("CLUSTER", "SET-CONFIG-EPOCH", epoch)
                if node is not first:
                    c.execute_command("CLUSTER", "MEET", "127.0.0.1", first.port, bus_port(first))

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every node says ``cluster_state:ok`` and knows every node."""
        deadline = time.monotonic() + timeout
        while not all(self._ok(node) for node in self.nodes):
            if time.monotonic() > deadline:
                raise AssertionError(f"cluster not ok after {timeout}s: {self._states()}")
            time.sleep(0.05)

    def _ok(self, node: RedisProcess) -> bool:
        try:
            with self.client(node) as c:
                info = c.cluster("INFO")
        except redis.RedisError:
            return False
        return bool(
            info["cluster_state"] == "ok"
            and int(info["cluster_known_nodes"]) == self.size
            and int(info["cluster_slots_ok"]) == SLOTS
        )

    def _states(self) -> list[str]:
        states = []
        for node in self.nodes:
            try:
                with self.client(node) as c:
                    states.append(str(c.cluster("INFO")["cluster_state"]))
            except redis.RedisError as e:
                states.append(repr(e))
        return states

    @staticmethod
    def client(node: RedisProcess) -> redis.Redis:
        """A plain client of one node (cluster administration, flushing)."""
        return redis.Redis(port=node.port, decode_responses=True, socket_timeout=5)

    def flush(self) -> None:
        for node in self.nodes:
            with self.client(node) as c:
                c.flushall()

    def node_of_port(self, port: int) -> RedisProcess:
        return next(n for n in self.nodes if n.port == port)

    def __iter__(self) -> Iterator[RedisProcess]:
        return iter(self.nodes)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def bus_port(node: RedisProcess) -> int:
    return int(node.extra[node.extra.index("--cluster-port") + 1])
