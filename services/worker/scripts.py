"""The worker's Lua scripts, read from ``lua/`` and registered once per client.

Scripts are called by SHA and loaded again on NOSCRIPT (a restarted Redis
forgets its script cache). On a single Redis the call is packed by
``shared.resp`` — a commit has a key per transaction, and redis-py's packer
would cost more than the rest of the commit's client work. On a cluster,
redis-py's ``Script`` does it: its SCRIPT LOAD goes to every primary, so a
restarted node is covered too. Scripts are called one by one, never staged in
a pipeline: a cluster pipeline refuses EVALSHA (and would not load a missing
script either).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from shared import resp
from shared.replicas import Replicas
from shared.store import Client

Arg = str | bytes | int


def _source(name: str) -> str:
    return resources.files("services.worker").joinpath("lua", f"{name}.lua").read_text()


async def evalsha(
    client: Client,
    script: AsyncScript,
    keys: Sequence[str],
    args: Sequence[Arg],
    *,
    durable: Replicas | None = None,
) -> Any:
    """Run ``script`` with ``keys`` and ``args``; its reply (errors raised: its callers,
    ``ShardStore`` and ``Leases``, translate them with ``store.translating``).
    With ``durable`` (``TXFLOW_MIN_REPLICAS``), its ``WAIT`` follows the script on
    the same connection, in the same round trip; too few replicas acknowledging
    raise ``ReplicasUnavailable`` — the script's writes stand on the primary.
    """
    if not isinstance(client, aioredis.Redis):
        return await script(keys=keys, args=args)
    packed = resp.pack("EVALSHA", script.sha, len(keys), *keys, *args)
    try:
        return await _execute(client, packed, durable)
    except NoScriptError:  # a restarted Redis: load it, once more
        await client.script_load(script.script)
        return await _execute(client, packed, durable)


async def _execute(client: aioredis.Redis, packed: bytes, durable: Replicas | None) -> Any:
    if not durable:
        return await resp.execute(client, packed)
    reply, acked = await resp.send(client, packed + durable.command, 2)
    reply = resp.outcome(reply)
    durable.check(acked)
    return reply


@dataclass(frozen=True, slots=True)
class Scripts:
    commit: AsyncScript
    acquire: AsyncScript
    renew: AsyncScript
    release: AsyncScript
    heartbeat: AsyncScript
    load: AsyncScript
    seed: AsyncScript

    @classmethod
    def register(cls, client: Client) -> Scripts:
        names = ("commit", "acquire", "renew", "release", "heartbeat", "load", "seed")
        return cls(*(client.register_script(_source(n)) for n in names))
