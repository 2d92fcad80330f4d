"""The shape of ``GET /v1/status`` and of the actions' answers, for OpenAPI and the tests.

The routes render their documents with orjson; these TypedDicts describe them,
with those the CLI's functions return (``services/cli``), and the tests
validate the documents against them (``extra="forbid"``: a field added to a
document without its description fails the shape test).
"""

from __future__ import annotations

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

from services.cli.dlq import DeadLetter
from services.cli.parked import ParkedAccount, Resolution
from services.cli.status import ShardStatus, WorkerStatus
from services.console.history import Series


# The CLI's documents are described where they are built (services/cli), extra="forbid" too.
@with_config(ConfigDict(extra="forbid"))
class ShardRates(ShardStatus):
    """A shard of ``txflow status --json`` with the console's rate."""

    commit_rate: float | None  # committed entries per second (None until two samples)


@with_config(ConfigDict(extra="forbid"))
class Status(TypedDict):
    """``txflow status --json`` (shards, workers) with the console's additions."""

    at: int  # when Redis was read, ms since the epoch
    actions: bool  # whether this ingest takes actions (a token is configured)
    shards: list[ShardRates]
    workers: list[WorkerStatus]
    dead_letters: list[DeadLetter]  # the oldest, at most TXFLOW_CONSOLE_ROWS
    parked: list[ParkedAccount]  # at most TXFLOW_CONSOLE_ROWS
    history: Series


@with_config(ConfigDict(extra="forbid"))
class Replayed(TypedDict):
    id: str  # the dead letter's
    stream_id: str  # the entry's new id in its shard's :in


@with_config(ConfigDict(extra="forbid"))
class Resolved(Resolution):
    """What a retry or skip did: the owner's result (``txflow parked retry|skip``) and
    the CLI's line saying it; ``status`` ``queued`` while the owner has not answered."""

    message: str
