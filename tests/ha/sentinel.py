"""Sentinels as child processes for the tests: ``<server> <conf> --sentinel``."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from services.cli.redis_process import RedisProcess

SERVICE = "txflow"


@dataclass
class SentinelProcess(RedisProcess):
    """A sentinel watching the primary on ``monitor`` (quorum 2, quick to fail over:
    ``down_after_ms``)."""

    monitor: int = 0
    down_after_ms: int = 1000

    def argv(self) -> list[str]:
        conf = self.data_dir / "sentinel.conf"
        if not conf.exists():  # the sentinel rewrites it as it learns
            conf.write_text(
                f"port {self.port}\nbind 127.0.0.1\ndir {self.data_dir}\n"
                f"logfile {self.data_dir / 'server.log'}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.monitor} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}\n"
                f"sentinel failover-timeout {SERVICE} 5000\n"
            )
        return [self.binary, str(conf), "--sentinel"]


def primary_port(sentinel: SentinelProcess) -> int | None:
    """The port of the primary ``sentinel`` names now, if it answers."""
    client = redis.Redis(port=sentinel.port, socket_timeout=1, decode_responses=True)
    try:
        address = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        return int(address[1]) if address else None
    except redis.RedisError:
        return None
    finally:
        client.close()


def ready(sentinel: SentinelProcess, replicas: int, others: int) -> bool:
    """Whether ``sentinel`` knows ``replicas`` replicas and ``others`` other sentinels."""
    client = redis.Redis(port=sentinel.port, socket_timeout=1, decode_responses=True)
    try:
        master = client.execute_command("SENTINEL", "MASTER", SERVICE)
        info = (
            dict(zip(master[::2], master[1::2], strict=True))
            if isinstance(master, list)
            else master
        )
        return int(info["num-slaves"]) >= replicas and int(info["num-other-sentinels"]) >= others
    except redis.RedisError:
        return False
    finally:
        client.close()


def replica_in_sync(sentinel: SentinelProcess, port: int) -> bool:
    """Whether ``sentinel`` sees the replica on ``port`` up, its link to the primary ok."""
    client = redis.Redis(port=sentinel.port, socket_timeout=1, decode_responses=True)
    try:
        for row in client.execute_command("SENTINEL", "REPLICAS", SERVICE):
            info = dict(zip(row[::2], row[1::2], strict=True)) if isinstance(row, list) else row
            if int(info["port"]) == port:
                return bool(info["flags"] == "slave" and info["master-link-status"] == "ok")
        return False
    except redis.RedisError:
        return False
    finally:
        client.close()
