"""``python -m services.worker.health``: exit 0 while a worker of this host heartbeats.

The container health check: a worker's id starts with its host name, and a
live worker renews its entry in ``txflow:workers`` every lease_ttl/3.
"""

from __future__ import annotations

import socket
import sys
import time

from shared import keys
from shared.settings import Settings
from shared.store import connect_sync


def main() -> int:
    settings = Settings()
    client = connect_sync(settings, decode_responses=True, socket_timeout=2)
    host = socket.gethostname()
    now_ms = time.time() * 1000
    found: list[tuple[str, float]] = client.zrange(keys.WORKERS, 0, -1, withscores=True)  # type: ignore[assignment]
    alive = any(w.startswith(f"{host}-") and score > now_ms for w, score in found)
    return 0 if alive else 1


if __name__ == "__main__":
    sys.exit(main())
