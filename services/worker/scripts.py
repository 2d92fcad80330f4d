"""The worker's Lua scripts, read from ``lua/`` and registered once per client.

Scripts are called by SHA and loaded again on NOSCRIPT (a restarted Redis
forgets its script cache). On a single Redis the call is packed by
``shared.resp`` — a commit has a key per transaction, and redis-py's packer
would cost more than the rest of the commit's client work. On a cluster,
redis-py's ``Script`` does it: its SCRIPT LOAD goes to every primary, so a
restarted node is covered too — except with ``TXFLOW_MIN_REPLICAS``, whose
``WAIT`` must follow the script on its connection: ``shared.nodes`` sends both
to the shard's node (and loads the script there). Scripts are called one by one, never staged in
a pipeline: a cluster pipeline refuses EVALSHA (and would not load a missing
script either).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from shared import nodes, resp
from shared.replicas import Replicas
from shared.store import Client, primary_of

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
    send: Send
    if isinstance(client, aioredis.Redis):
        send, load = partial(resp.send, client), client.script_load
    elif durable:  # the WAIT on the connection of the EVALSHA: to the node, by shared.nodes
        node = await primary_of(client, keys[0])
        send, load = partial(nodes.send, client, node), partial(nodes.script_load, node)
    else:
        return await script(keys=keys, args=args)
    packed = resp.pack("EVALSHA", script.sha, len(keys), *keys, *args)
    try:
        return await _execute(send, packed, durable)
    except NoScriptError:  # a restarted Redis: load it, once more
        await load(script.script)
        return await _execute(send, packed, durable)


Send = Callable[[bytes, int], Awaitable[list[Any]]]
"""``resp.send`` bound to a client, or ``nodes.send`` to a cluster node."""


async def _execute(send: Send, packed: bytes, durable: Replicas | None) -> Any:
    if not durable:
        (reply,) = await send(packed, 1)
        return resp.outcome(reply)
    reply, acked = await send(packed + durable.command, 2)
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
    tidy: AsyncScript

    @classmethod
    def register(cls, client: Client) -> Scripts:
        names = ("commit", "acquire", "renew", "release", "heartbeat", "load", "seed", "tidy")
        return cls(*(client.register_script(_source(n)) for n in names))
