"""A worker's ownership of a shard, as the worker and the shard's runner see it."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(slots=True)
class Lease:
    """Ownership of a shard: the fencing token and until when it is surely ours."""

    shard: int
    token: int
    valid_until: float  # time.monotonic()

    @property
    def valid(self) -> bool:
        return time.monotonic() < self.valid_until
