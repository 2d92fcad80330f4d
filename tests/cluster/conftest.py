"""A local three-node Redis Cluster, started once per session and flushed per test.

The nodes are ``redis-server`` on PATH, else the embedded ``valkey-server``
(``TXFLOW_REDIS_SERVER=embedded`` forces it, as for every Redis test), each
with AOF ``always``. A test that kills a node restarts it in place; the next
test starts only once every node says ``cluster_state:ok`` again.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.cluster.local import LocalCluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    nodes = LocalCluster(tmp_path_factory.mktemp("cluster")).start()
    yield nodes
    nodes.stop()


@pytest.fixture
def cluster_url(cluster: LocalCluster) -> str:
    """A node's URL (the client discovers the others); every node empty and ok."""
    for node in cluster:
        if node.proc is None or node.proc.poll() is not None:
            node.start()  # a test failed between a kill and its restart
    cluster.wait_ok()
    cluster.flush()
    return cluster.url


@pytest.fixture
def client(cluster_url: str) -> Iterator[redis.RedisCluster]:
    """A cluster client answering bytes, as ``tests.stack``'s checks expect."""
    c = redis.RedisCluster.from_url(cluster_url)
    yield c
    c.close()
