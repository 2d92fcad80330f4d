"""Every Redis key txflow uses, named in this one module.

Each key of shard ``s`` carries the hash tag ``{s}`` so that a shard lives in
one Redis Cluster slot and its commit can be one atomic script.
"""

from __future__ import annotations

PREFIX = "txflow"
GROUP = "workers"

META = f"{PREFIX}:meta"
WORKERS = f"{PREFIX}:workers"
PROBE = f"{PREFIX}:probe"
"""Never created: ``XADD … NOMKSTREAM`` to it asks whether Redis takes writes."""


class ShardKeys:
    """The keys of one shard. Cheap to build; build one per shard and keep it."""

    __slots__ = (
        "ckpt",
        "committed",
        "control",
        "dlq",
        "epoch",
        "inbox",
        "lease",
        "outbox",
        "parked",
        "shard",
        "tag",
    )

    def __init__(self, shard: int) -> None:
        self.shard = shard
        self.tag = f"{PREFIX}:{{{shard}}}"
        self.inbox = f"{self.tag}:in"
        self.outbox = f"{self.tag}:out"
        self.dlq = f"{self.tag}:dlq"
        self.lease = f"{self.tag}:lease"
        self.epoch = f"{self.tag}:epoch"
        self.ckpt = f"{self.tag}:ckpt"
        # How many entries of ``inbox`` are committed (every entry up to ckpt): the
        # shard's backlog is the stream's entries-added minus this (ingest's lag).
        self.committed = f"{self.tag}:committed"
        self.parked = f"{self.tag}:parked"  # hash: parked account → why and since when
        self.control = f"{self.tag}:ctl"  # stream: operator requests to the owner

    def account(self, account_id: str) -> str:
        """Hash: the account's state and one field per transaction (``shared.records``)."""
        return f"{self.tag}:acct:{account_id}"

    def schema1_records(self) -> str:
        """SCAN pattern of schema 1's hash per transaction, ``<tag>:tx:<account>:<tx_id>``
        (read only by ``txflow migrate``, which folds them into the account hashes)."""
        return f"{self.tag}:tx:*"

    def schema1_record_of(self, key: str) -> tuple[str, str]:
        """The (account, tx id) of a key ``schema1_records`` matched (ids hold no ':')."""
        account_id, _, tx_id = key[len(self.tag) + 4 :].partition(":")
        return account_id, tx_id

    def accounts(self) -> str:
        """SCAN pattern of the shard's account hashes."""
        return f"{self.tag}:acct:*"

    def held(self, account_id: str) -> str:
        """List: the entries of a parked account set aside, oldest first."""
        return f"{self.tag}:park:{account_id}"

    def control_result(self, request_id: str) -> str:
        """String, expiring: the result of the operator request ``request_id``."""
        return f"{self.tag}:ctl:{request_id}"

    def __repr__(self) -> str:
        return f"ShardKeys({self.shard})"


def shard_keys(shards: int) -> list[ShardKeys]:
    """The keys of every shard of a deployment with ``shards`` shards."""
    return [ShardKeys(s) for s in range(shards)]
