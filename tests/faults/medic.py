"""The operator of the soak: resolves parked accounts while faults are injected.

Workers run under the poison hook (``tests.poison``): a small share of
transactions raise in the decision path, so their accounts park. The medic
does what an operator would, through the real commands' functions
(``services.cli.parked``): it finds parked accounts, fixes the cause of the
first held entry (heals it in the hook's ``healed`` file), and asks the
shard's owner to retry. A retry whose next held entry is poisoned too leaves
the account parked behind it; the medic comes back to it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import redis

from services.cli import parked
from shared.model import Tx
from shared.parking import held_from
from tests import poison


class Medic(threading.Thread):
    def __init__(self, redis_url: str, poison_dir: Path, every_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.url, self.poison_dir, self.every_s = redis_url, poison_dir, every_s
        self.healed: list[str] = []  # "account tx_id": the causes fixed
        self.parkings: set[tuple[str, int]] = set()  # (account, parked since)
        self.results: dict[str, int] = {}  # retry results by status
        self._done = threading.Event()

    def run(self) -> None:
        client = redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=2)
        while not self._done.wait(self.every_s):
            try:
                for row in parked.accounts(client):
                    self.resolve(client, row)
            except (redis.RedisError, RuntimeError, LookupError):
                continue  # Redis itself may be the fault; no owner yet; released meanwhile
        client.close()

    def resolve(self, client: redis.Redis, row: dict[str, Any]) -> None:
        account = row["account"]
        self.parkings.add((account, row["since"]))
        k, _ = parked.parked_of(client, account)
        head: Any = client.lindex(k.held(account), 0)
        if head is not None:
            tx = Tx.decode(held_from(head)[1] or "")
            self.healed.append(f"{tx.account_id} {tx.tx_id}")
            poison.write(self.poison_dir, "healed", self.healed)
        k, request_id = parked.send(client, "retry", account)
        status = parked.wait(client, k, request_id, timeout=30)["status"]
        self.results[status] = self.results.get(status, 0) + 1

    def stop(self) -> None:
        self._done.set()
        self.join(60)
