"""The shape of ``GET /v1/status`` and of the actions' answers, for OpenAPI and the tests.

The routes render their documents with orjson; these models describe them
(``extra="forbid"``: a field added to a document without its description here
fails the shape test).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, with_config

from services.cli.dlq import DeadLetter
from services.cli.parked import ParkedAccount
from services.cli.status import ShardStatus, WorkerStatus


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


# The CLI's documents are described where they are built (services/cli), extra="forbid" too.
@with_config(ConfigDict(extra="forbid"))
class ShardRates(ShardStatus):
    """A shard of ``txflow status --json`` with the console's rate."""

    commit_rate: float | None  # committed entries per second (None until two samples)


class Point(_Doc):
    at: int  # ms since the epoch
    accepted_per_s: float
    processed_per_s: float  # committed by workers: applied, rejected or duplicate
    p50_ms: float | None  # accepted → committed
    p99_ms: float | None


class History(_Doc):
    interval_ms: int
    points: list[Point]


class Status(_Doc):
    """``txflow status --json`` (shards, workers) with the console's additions."""

    at: int  # when Redis was read, ms since the epoch
    actions: bool  # whether this ingest takes actions (a token is configured)
    shards: list[ShardRates]
    workers: list[WorkerStatus]
    dead_letters: list[DeadLetter]  # the oldest, at most TXFLOW_CONSOLE_ROWS
    parked: list[ParkedAccount]  # at most TXFLOW_CONSOLE_ROWS
    history: History


class Replayed(_Doc):
    id: str  # the dead letter's
    stream_id: str  # the entry's new id in its shard's :in


class Resolved(_Doc):
    """What a retry or skip did: the owner's result (``txflow parked retry|skip``)."""

    status: str  # released, parked (still), not_parked, stale, invalid; queued (no answer yet)
    message: str  # the CLI's line saying it
    account: str | None = None
    outcomes: dict[str, int] | None = None  # of the held entries decided
    held: int | None = None  # entries still held
    skipped: str | None = None  # the entry dead-lettered by a skip
    reason: str | None = None  # why it is still parked
    detail: str | None = None
