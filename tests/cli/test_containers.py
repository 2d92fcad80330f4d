"""The container files, checked without a Docker engine (none runs here).

The compose file must load and name what a deployment needs; every command
of the Dockerfile and the compose file must run on this machine the way the
image would run it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
import yaml

from services.cli.redis_process import RedisProcess, free_port
from shared.settings import Settings
from tests.polling import wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, object]:
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(doc, dict)
    return doc


def test_compose_has_redis_with_aof_ingest_and_a_scalable_worker(compose: dict) -> None:  # type: ignore[type-arg]
    services = compose["services"]
    assert set(services) == {"redis", "ingest", "proxy", "worker"}
    assert "--appendonly" in services["redis"]["command"]
    assert "everysec" in services["redis"]["command"]
    assert "redis-data" in compose["volumes"]
    for name in ("redis", "ingest", "proxy", "worker"):
        assert services[name]["healthcheck"]["test"], f"{name} has no health check"
    assert services["ingest"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["worker"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "ports" not in services["worker"] and "container_name" not in services["worker"]
    for name in ("redis", "ingest", "proxy", "worker"):  # a worker exits 1 without Redis
        assert services[name]["restart"] == "unless-stopped", f"{name} is not restarted"


@pytest.mark.parametrize(
    "name", ["docker-compose.yml", "docker-compose.cluster.yml", "docker-compose.replicas.yml"]
)
def test_ingest_scales_behind_one_port(name: str) -> None:
    services = yaml.safe_load((ROOT / name).read_text())["services"]
    # --scale ingest=K: nothing that two replicas could not both have
    assert "ports" not in services["ingest"] and "container_name" not in services["ingest"]
    proxy = services["proxy"]
    assert proxy["ports"] == ["8000:8000"]
    assert proxy["depends_on"]["ingest"]["condition"] == "service_healthy"
    source, target, mode = proxy["volumes"][0].split(":")
    assert target == "/etc/nginx/conf.d/default.conf" and mode == "ro"
    conf = (ROOT / source).read_text()
    directives = [line.split("#")[0].strip() for line in conf.splitlines()]
    # resolved again on expiry through Docker's DNS, so replicas come and go
    assert "resolver 127.0.0.11 valid=5s ipv6=off;" in directives
    assert "set $ingest http://ingest:8000;" in directives and "proxy_pass $ingest;" in directives
    assert "listen 8000;" in directives
    # each client is told apart by its own address, which it cannot forge
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in directives
    assert services["ingest"]["environment"]["TXFLOW_FORWARDED_ALLOW_IPS"] == "*"
    # a batch of the default TXFLOW_MAX_BODY_BYTES (4 MiB) reaches ingest
    (limit,) = [d for d in directives if d.startswith("client_max_body_size")]
    assert int(limit.split()[1].rstrip("m;")) * 2**20 > Settings().max_body_bytes
    assert conf.count("{") == conf.count("}")


def test_every_module_the_containers_run_exists(compose: dict) -> None:  # type: ignore[type-arg]
    dockerfile = (ROOT / "Dockerfile").read_text()
    commands = [json.loads(m) for m in re.findall(r"^\s*CMD (\[.*\])$", dockerfile, re.M)]
    for service in compose["services"].values():
        if isinstance(service.get("command"), list):
            commands.append(service["command"])
        commands.append(service["healthcheck"]["test"][1:])
    modules = [c[c.index("-m") + 1] for c in commands if "-m" in c]
    assert {"services.ingest", "services.worker", "services.worker.health"} <= set(modules)
    for module in modules:
        probe = f"import importlib.util as u; assert u.find_spec({module!r})"
        assert subprocess.run([sys.executable, "-c", probe]).returncode == 0, module


def _cmd(dockerfile: str, prefix: str) -> list[str]:
    match = re.search(rf"^{prefix}\s*(\[.*\])$", dockerfile, re.M)
    assert match, prefix
    return list(json.loads(match.group(1)))


@pytest.fixture
def ingest_like_the_image(redis_url: str, tmp_path: Path) -> Iterator[int]:
    """The Dockerfile's CMD, run here on a free port instead of 8000."""
    port = free_port()
    cmd = [str(port) if a == "8000" else a for a in _cmd((ROOT / "Dockerfile").read_text(), "CMD")]
    cmd[0] = sys.executable if cmd[0] == "python" else cmd[0]
    env = {"REDIS_URL": redis_url, "PATH": "/usr/bin:/bin"}
    with (tmp_path / "ingest.log").open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, cwd=ROOT)
    yield port
    proc.terminate()
    proc.wait(10)


def test_the_images_command_serves_and_its_health_check_passes(ingest_like_the_image: int) -> None:
    port = ingest_like_the_image
    wait_for(lambda: _ok(f"http://127.0.0.1:{port}/readyz"), 30, "the image's ingest to be ready")
    dockerfile = (ROOT / "Dockerfile").read_text()
    check = re.search(r'CMD \["python", "-c", "(.*)"\]$', dockerfile, re.M)
    assert check is not None
    code = check.group(1).replace("8000", str(port))
    assert subprocess.run([sys.executable, "-c", code], timeout=10).returncode == 0


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_worker_command_heartbeats_and_its_health_check_passes(
    compose: dict,
    redis_url: str,
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    worker = compose["services"]["worker"]
    cmd = [sys.executable if a == "python" else a for a in worker["command"]]
    check = [sys.executable if a == "python" else a for a in worker["healthcheck"]["test"][1:]]
    env = {"REDIS_URL": redis_url, "PATH": "/usr/bin:/bin"}
    assert subprocess.run(check, env=env, cwd=ROOT).returncode == 1  # no worker yet
    with (tmp_path / "worker.log").open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, cwd=ROOT)
    try:
        wait_for(
            lambda: subprocess.run(check, env=env, cwd=ROOT).returncode == 0,
            30,
            "the worker's health check to pass",
        )
    finally:
        proc.terminate()
        assert proc.wait(15) == 0


@pytest.fixture(scope="module")
def cluster_compose() -> dict[str, object]:
    doc = yaml.safe_load((ROOT / "docker-compose.cluster.yml").read_text())
    assert isinstance(doc, dict)
    return doc


NODES = ("redis-1", "redis-2", "redis-3")


def test_cluster_compose_has_three_aof_always_nodes_a_one_shot_create_and_cluster_services(
    cluster_compose: dict,  # type: ignore[type-arg]
    compose: dict,  # type: ignore[type-arg]
) -> None:
    services = cluster_compose["services"]
    assert set(services) == {*NODES, "cluster-create", "ingest", "proxy", "worker"}
    for node in NODES:
        command = services[node]["command"]
        assert command[command.index("--cluster-enabled") + 1] == "yes"
        assert command[command.index("--appendfsync") + 1] == "always"
        assert command[command.index("--cluster-announce-hostname") + 1] == node
        assert services[node]["volumes"] == [f"{node}:/data"] and node in cluster_compose["volumes"]
        assert services[node]["healthcheck"]["test"]
    create = services["cluster-create"]
    assert create["restart"] == "no"
    assert {n: c["condition"] for n, c in create["depends_on"].items()} == dict.fromkeys(
        NODES, "service_healthy"
    )
    script = create["command"][-1]
    assert "--cluster-replicas 0" in script and all(n in script for n in NODES)
    for name in ("ingest", "worker"):
        service = services[name]
        assert service["environment"]["TXFLOW_REDIS_CLUSTER"] == "1"
        assert service["environment"]["REDIS_URL"].startswith("redis://redis-")
        condition = service["depends_on"]["cluster-create"]["condition"]
        assert condition == "service_completed_successfully"
        # the very commands and health checks the single-Redis compose file runs (tested above)
        assert service["command"] == compose["services"][name]["command"]
        assert service["healthcheck"] == compose["services"][name]["healthcheck"]


@pytest.mark.redis  # starts servers: rerun on the embedded one too
@pytest.mark.parametrize("node", NODES)
def test_each_cluster_nodes_command_starts_a_cluster_node_here(
    cluster_compose: dict,  # type: ignore[type-arg]
    node: str,
    tmp_path: Path,
) -> None:
    command = cluster_compose["services"][node]["command"]
    assert command[0] == "redis-server"
    # The compose options come after RedisProcess's own and win over them.
    server = RedisProcess(tmp_path, extra=[*command[1:], "--cluster-port", str(free_port())])
    server.start()
    try:
        client = redis.Redis(port=server.port, decode_responses=True)
        assert client.info("cluster")["cluster_enabled"] == 1
        assert client.config_get("appendfsync") == {"appendfsync": "always"}
        assert client.config_get("cluster-announce-hostname")["cluster-announce-hostname"] == node
        client.close()
    finally:
        server.stop()
