"""docker-compose.replicas.yml, checked without a Docker engine (none runs here).

It must load and name a primary, two replicas and three sentinels, give ingest
and the workers the sentinels and ``TXFLOW_MIN_REPLICAS=1``; its servers'
commands and the sentinels' configuration must start a primary, a replica and
a sentinel that finds them, here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from services.cli.redis_process import RedisProcess, free_port
from tests.ha.sentinel import SentinelProcess, primary_port, ready
from tests.polling import wait_for

ROOT = Path(__file__).resolve().parents[2]
SERVERS = ("redis-1", "redis-2", "redis-3")
SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "docker-compose.replicas.yml").read_text())
    assert isinstance(doc, dict)
    return doc


def test_a_primary_two_replicas_three_sentinels_and_services_that_ask_them(
    compose: dict[str, Any],
) -> None:
    plain = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    services = compose["services"]
    assert set(services) == {*SERVERS, *SENTINELS, "ingest", "proxy", "worker"}
    for name in SERVERS[1:]:
        replica = services[name]["command"]
        assert replica[replica.index("--replicaof") + 1 :][:2] == ["redis-1", "6379"]
        assert replica[replica.index("--replica-announce-ip") + 1] == name
    for name in SERVERS:
        assert services[name]["volumes"] == [f"{name}:/data"] and name in compose["volumes"]
    for name in services:
        assert services[name]["healthcheck"]["test"], f"{name} has no health check"
        assert services[name]["restart"] in {"always", "unless-stopped"}
    for name in SENTINELS:
        assert services[name]["hostname"] == name
    for name in ("ingest", "worker"):
        env = services[name]["environment"]
        assert env["TXFLOW_SENTINELS"] == ",".join(f"{s}:26379" for s in SENTINELS)
        assert env["TXFLOW_SENTINEL_SERVICE"] == "txflow"
        assert env["TXFLOW_MIN_REPLICAS"] == "1"
        assert {*SERVERS, *SENTINELS} - {"redis-1"} <= set(services[name]["depends_on"])
        # the very commands and health checks the single-Redis compose file runs (tested there)
        assert services[name]["command"] == plain[name]["command"]
        assert services[name]["healthcheck"] == plain[name]["healthcheck"]


@pytest.mark.redis  # starts servers: rerun on the embedded one too
def test_its_commands_start_a_replicated_pair_and_a_sentinel_that_finds_them(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    services = compose["services"]
    here = {"redis-1": "127.0.0.1", "6379": ""}  # its names and ports, as they are here
    primary = RedisProcess(tmp_path / "redis-1", extra=services["redis-1"]["command"][1:])
    servers = [primary.start()]
    here["6379"] = str(primary.port)
    command = [here.get(a, a) for a in services["redis-2"]["command"][1:]]
    servers.append(RedisProcess(tmp_path / "redis-2", extra=command).start())
    sentinel_dir = tmp_path / "sentinel-1"
    sentinel_dir.mkdir()
    port = free_port()
    script = services["sentinel-1"]["entrypoint"][2].replace("$$", "$")
    write = script.split("exec ")[0]  # the configuration only, written as the container does
    env = {"HOSTNAME": "127.0.0.1", "PATH": "/usr/bin:/bin"}
    subprocess.run(["sh", "-c", write], cwd=sentinel_dir, env=env, check=True)
    conf = sentinel_dir / "sentinel.conf"
    text = conf.read_text().replace("port 26379", f"port {port}")
    conf.write_text(text.replace("redis-1 6379", f"127.0.0.1 {primary.port}"))
    watcher = SentinelProcess(sentinel_dir, port=port).start()  # on the file written above
    client = redis.Redis(port=primary.port)
    try:
        wait_for(lambda: client.incr("sync") and client.wait(1, 100) >= 1, 30, "the replica")
        wait_for(lambda: ready(watcher, 1, 0), 30, "the sentinel knowing the replica")
        assert primary_port(watcher) == primary.port
    finally:
        client.close()
        watcher.stop()
        for server in servers:
            server.stop()
