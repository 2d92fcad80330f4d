"""A local Redis Cluster for tests: servers started and joined from Python.

Each node is a ``RedisProcess`` (``redis-server`` on PATH, else the embedded
``valkey-server``) with cluster mode on, AOF ``always`` and its own
``nodes.conf`` in its data directory, so a node killed -9 and restarted in
place comes back with its identity, its slots and every acknowledged write.

The cluster is formed without ``redis-cli --cluster create`` (which the
embedded package may not ship): slots are split into equal ranges with
``CLUSTER ADDSLOTSRANGE``, each node gets its own config epoch, and the nodes
``CLUSTER MEET`` the first one. With ``replicas``, that many more nodes per
primary join and ``CLUSTER REPLICATE`` it; ``start`` returns once each is in sync.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from services.cli.redis_process import RedisProcess, free_port

SLOTS = 16384
# With full coverage off, a node that is down stops only its own slots (its
# shards), never the others. A replica fails over however long it was cut off
# from its primary (validity factor 0): a test decides what it lags.
CLUSTER_OPTIONS = [
    "--cluster-enabled", "yes",
    "--cluster-config-file", "nodes.conf",
    "--cluster-require-full-coverage", "no",
    "--cluster-replica-validity-factor", "0",
]  # fmt: skip


def slot_ranges(nodes: int) -> list[tuple[int, int]]:
    """``nodes`` contiguous, nearly equal ranges covering every slot."""
    bounds = [SLOTS * i // nodes for i in range(nodes + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(nodes)]


@dataclass
class LocalCluster:
    """``size`` primaries on 127.0.0.1, each with ``replicas`` replicas.

    ``node_timeout_ms``: short enough for a test to see a node fail (and, with
    replicas, a replica promoted within seconds).
    """

    data_dir: Path
    size: int = 3
    replicas: int = 0
    node_timeout_ms: int = 5000
    nodes: list[RedisProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        """A startup node: the cluster client discovers the others from it."""
        return self.nodes[0].url

    def start(self, timeout: float = 30.0) -> LocalCluster:
        options = [*CLUSTER_OPTIONS, "--cluster-node-timeout", str(self.node_timeout_ms)]
        for n in range(self.size * (1 + self.replicas)):
            bus = ["--cluster-port", str(free_port())]
            node = RedisProcess(self.data_dir / f"node-{n}", "always", extra=options + bus)
            self.nodes.append(node.start())
        self._form()
        self.wait_ok(timeout)
        if self.replicas:
            self._replicate(timeout)
        return self

    def _form(self) -> None:
        first = self.nodes[0]
        ranges = slot_ranges(self.size)
        for n, node in enumerate(self.nodes):
            with self.client(node) as c:
                if n < self.size:
                    c.execute_command("CLUSTER", "ADDSLOTSRANGE", *ranges[n])
                    c.execute_command("CLUSTER", "SET-CONFIG-EPOCH", n + 1)
                if node is not first:
                    c.execute_command("CLUSTER", "MEET", "127.0.0.1", first.port, bus_port(first))

    def _replicate(self, timeout: float) -> None:
        """Each extra node replicates a primary (round robin); until every one is in sync."""
        for n, node in enumerate(self.nodes[self.size :]):
            with self.client(self.nodes[n % self.size]) as c:
                primary = c.execute_command("CLUSTER", "MYID")
            with self.client(node) as c:
                c.execute_command("CLUSTER", "REPLICATE", primary)
        deadline = time.monotonic() + timeout
        while not all(self.in_sync(node) for node in self.nodes[self.size :]):
            if time.monotonic() > deadline:
                raise AssertionError(f"replicas not in sync after {timeout}s")
            time.sleep(0.05)
        self.wait_ok(timeout)

    def in_sync(self, node: RedisProcess) -> bool:
        try:
            with self.client(node) as c:
                return bool(c.info("replication").get("master_link_status") == "up")
        except redis.RedisError:
            return False

    def primaries(self) -> list[RedisProcess]:
        """The nodes serving slots now (a promoted replica among them)."""
        return [n for n in self.nodes if self._role(n) == "master"]

    def replicas_of(self, primary: RedisProcess) -> list[RedisProcess]:
        with self.client(primary) as c:
            info = c.info("replication")
        ports = {
            int(v["port"]) for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)
        }
        return [n for n in self.nodes if n.port in ports]

    def _role(self, node: RedisProcess) -> str | None:
        try:
            with self.client(node) as c:
                return str(c.info("replication")["role"])
        except redis.RedisError:
            return None

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
            and int(info["cluster_known_nodes"]) == len(self.nodes)
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
        for node in self.primaries():
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
