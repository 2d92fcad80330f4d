"""What one client may hold: the arithmetic of the limits ``protocol`` enforces.

The connection cap must leave descriptors for everything else the process
opens, or a flood of connections takes the descriptors Redis, the logs and the
next health check need (``accept`` fails with ``EMFILE``, and nothing is
logged). Each client connection may hold one connection of the Redis pool
while its request waits on Redis, so a cap of ``n`` needs ``2 n`` descriptors
plus ``RESERVED_FDS`` for the rest (listening socket, event loop, logs, the
Redis connections of the appender and the lag monitor).
"""

from __future__ import annotations

import resource

from shared.errors import ConfigError

RESERVED_FDS = 64
"""Descriptors kept for what is not a client connection or its Redis connection."""

DEFAULT_CAP = 1000
"""The cap when TXFLOW_MAX_CONNECTIONS is unset and RLIMIT_NOFILE allows it."""


def descriptor_limit() -> int:
    """This process's soft RLIMIT_NOFILE (``RLIM_INFINITY`` read as no limit)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 30 if soft == resource.RLIM_INFINITY else soft


def connection_cap(configured: int | None, nofile: int) -> int:
    """The connection cap: ``configured`` when ``nofile`` descriptors allow it, else a
    ``ConfigError`` naming the descriptors needed; unset, ``DEFAULT_CAP`` or what
    ``nofile`` allows, whichever is smaller."""
    allowed = (nofile - RESERVED_FDS) // 2
    if configured is None:
        if allowed < 1:
            raise ConfigError(f"RLIMIT_NOFILE is {nofile}: too low to serve (raise ulimit -n)")
        return min(DEFAULT_CAP, allowed)
    if configured > allowed:
        raise ConfigError(
            f"TXFLOW_MAX_CONNECTIONS={configured} needs RLIMIT_NOFILE of at least "
            f"{2 * configured + RESERVED_FDS}, and it is {nofile}: raise ulimit -n "
            "or lower TXFLOW_MAX_CONNECTIONS"
        )
    return configured


def head_size(url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """The bytes of a request line and header fields, as near as the parsed parts tell
    (method and version, separators and line ends counted at their usual sizes)."""
    return len(url) + 16 + sum(len(name) + len(value) + 4 for name, value in headers)
