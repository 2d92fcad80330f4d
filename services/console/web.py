"""The console's HTTP side: the page at ``/console``, ``GET /v1/status``, the actions.

The page (``static/``: HTML, one script, one stylesheet) holds no data and is
served to anyone; what it shows comes from ``GET /v1/status`` and what it does
goes through the action routes, both behind the ``/v1`` token rules. Actions
need a token even where ``/v1`` does not: without ``TXFLOW_API_TOKEN`` they
answer ``403`` and the console is read-only.

Redis is read by the CLI's blocking functions in a thread, at most once per
``TXFLOW_CONSOLE_SAMPLE_MS`` whatever the number of pages polling, and never
while no one looks: an ingest whose console is closed pays nothing for it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.staticfiles import StaticFiles

from services.cli import dlq, parked
from services.console import schemas
from services.console.board import Board
from services.ingest import auth, problems
from services.ingest.schemas import problems as documented
from shared.errors import InvalidInput, ShardCountMismatch
from shared.model import ID_PATTERN as ACCOUNT_ID
from shared.parking import Op
from shared.settings import Settings
from shared.store import SyncClient, close_sync, connect_sync
from shared.streams import ID_PATTERN as STREAM_ID

T = TypeVar("T")

STATIC = Path(__file__).parent / "static"

# One read and one action at a time: two connections (per node on a cluster) are all it uses.
CONNECTIONS = 2


class Console:
    """The console of one ingest: its Redis client (opened on first use), board and locks."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.board = Board(settings)
        self._client: SyncClient | None = None
        self._opening = threading.Lock()
        self._reading = asyncio.Lock()
        self._acting = asyncio.Lock()
        self._doc: schemas.Status | None = None
        self._read_at = float("-inf")
        self._actions = 0  # actions carried out: a reading begun before one is not kept
        self._sample_s = settings.console_sample_ms / 1000

    def client(self) -> SyncClient:
        """The blocking client (a cluster client asks a node for its slots when opened).

        Each call waits ``TXFLOW_REDIS_TIMEOUT_MS`` at most, as ingest's own do:
        then the page gets a 503.
        """
        with self._opening:
            if self._client is None:
                self._client = connect_sync(
                    self.settings,
                    decode_responses=True,
                    socket_timeout=self.settings.redis_timeout_ms / 1000,
                    max_connections=CONNECTIONS,
                )
            return self._client

    async def status(self) -> schemas.Status:
        """The status document, read again once it is a sample interval old."""
        async with self._reading:
            if self._doc is not None and time.monotonic() - self._read_at < self._sample_s:
                return self._doc
            actions = self._actions
            doc = await asyncio.to_thread(lambda: self.board.read(self.client()))
            if actions == self._actions:  # else it may show what an action changed since
                self._doc, self._read_at = doc, time.monotonic()
            return doc

    async def act(self, operation: Callable[[SyncClient], T]) -> T:
        """Run ``operation`` (a CLI function) on the client; the next status reads afresh."""
        async with self._acting:
            try:
                return await asyncio.to_thread(lambda: operation(self.client()))
            finally:
                self._actions += 1
                self._read_at = float("-inf")

    def close(self) -> None:
        with self._opening:
            if self._client is not None:
                close_sync(self._client)
                self._client = None


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


ConsoleDep = Annotated[Console, Depends(console_of)]
DlqId = Annotated[str, PathParam(pattern=STREAM_ID, max_length=41)]
AccountId = Annotated[str, PathParam(pattern=ACCOUNT_ID, min_length=1, max_length=64)]
# A query parameter, not a body: FastAPI answers a body it cannot parse 400, not 422.
Note = Annotated[
    str, Query(min_length=1, max_length=500, description="why: kept with the dead letter")
]


def _json(doc: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status, media_type="application/json")


async def get_status(console: ConsoleDep) -> Response:
    """Shards, workers, dead letters, parked accounts, recent history: the console's data."""
    return _json(await console.status())


async def replay_dead_letter(dlq_id: DlqId, console: ConsoleDep) -> Response:
    """Append a dead letter's entry to its shard again (``txflow dlq replay``)."""
    try:
        stream_id = await console.act(lambda client: dlq.replay(client, dlq_id))
    except LookupError as e:
        raise problems.not_found(str(e)) from None
    except InvalidInput as e:
        raise problems.Problem(422, str(e), type=problems.VALIDATION) from None
    return _json({"id": dlq_id, "stream_id": stream_id})


async def retry_parked(account: AccountId, console: ConsoleDep) -> Response:
    """Apply a parked account's held entries in order (``txflow parked retry``)."""
    return await _resolve(console, "retry", account, "")


async def skip_parked(account: AccountId, note: Note, console: ConsoleDep) -> Response:
    """Dead-letter a parked account's first held entry with a note, then retry the rest
    (``txflow parked skip``)."""
    return await _resolve(console, "skip", account, note)


async def _resolve(console: Console, op: Op, account: str, note: str) -> Response:
    """200 with what the shard's owner did, or 202 while it has not answered (the
    request stays queued: the owner, or the next one, carries it out)."""
    timeout = console.settings.console_action_timeout_s
    try:
        found = await console.act(lambda c: parked.resolve(c, op, account, note, timeout))
    except LookupError as e:
        raise problems.not_found(str(e)) from None
    except RuntimeError as e:
        return _json({"status": "queued", "account": account, "message": str(e)}, 202)
    return _json({**found, "message": parked.describe(found)})


async def _read_only() -> None:
    raise problems.read_only()


async def _no_deployment(_: Request, exc: Exception) -> Response:
    """A Redis without ``txflow:meta`` (any more): 503 saying so, as ``/readyz`` does."""
    return problems.unavailable(str(exc)).response()


def install(app: FastAPI, settings: Settings) -> None:
    """Add the console's page, its status route and its actions to ``app``."""
    guards = auth.guards(settings.api_token)
    # With a token, an action needs it (401 without); without one, actions are refused (403).
    actions = guards if settings.api_token else [Depends(_read_only)]
    read = documented(401, 503) if settings.api_token else documented(503)
    app.add_api_route(
        "/v1/status",
        get_status,
        response_model=schemas.Status,
        responses=read,
        dependencies=guards,
    )
    app.add_api_route(
        "/v1/dlq/{dlq_id}/replay",
        replay_dead_letter,
        methods=["POST"],
        response_model=schemas.Replayed,
        dependencies=actions,
        responses=read | documented(403, 404, 422),
    )
    queued: dict[int | str, dict[str, Any]] = {
        202: {"model": schemas.Resolved, "description": "Not carried out yet: queued"}
    }
    for op, route in (("retry", retry_parked), ("skip", skip_parked)):
        app.add_api_route(
            f"/v1/parked/{{account}}/{op}",
            route,
            methods=["POST"],
            response_model=schemas.Resolved,
            dependencies=actions,
            responses=read | documented(403, 404, 422) | queued,
        )
    app.add_exception_handler(ShardCountMismatch, _no_deployment)
    app.mount("/console", StaticFiles(directory=STATIC, html=True), name="console")
