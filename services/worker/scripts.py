"""The worker's Lua scripts, read from ``lua/`` and registered once per client.

redis-py's ``Script`` calls EVALSHA and falls back to loading the script on
NOSCRIPT (a restarted Redis forgets its script cache). On a cluster client the
SCRIPT LOAD goes to every primary, so a restarted node is covered too. Scripts
are called one by one, never staged in a pipeline: a cluster pipeline refuses
EVALSHA (and would not load a missing script either).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from redis.commands.core import AsyncScript

from shared.store import Client


def _source(name: str) -> str:
    return resources.files("services.worker").joinpath("lua", f"{name}.lua").read_text()


@dataclass(frozen=True, slots=True)
class Scripts:
    commit: AsyncScript
    acquire: AsyncScript
    renew: AsyncScript
    release: AsyncScript
    heartbeat: AsyncScript
    load: AsyncScript

    @classmethod
    def register(cls, client: Client) -> Scripts:
        names = ("commit", "acquire", "renew", "release", "heartbeat", "load")
        return cls(*(client.register_script(_source(n)) for n in names))
