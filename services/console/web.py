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
from fastapi import Depends, FastAPI, Request, Response
from fastapi import Path as PathParam
from fastapi.staticfiles import StaticFiles

from services.cli import dlq
from services.console import schemas
from services.console.board import Board
from services.ingest import auth, problems
from services.ingest.schemas import problems as documented
from shared.errors import InvalidInput, ShardCountMismatch
from shared.settings import Settings
from shared.store import SyncClient, close_sync, connect_sync
from shared.streams import ID_PATTERN

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
        self._doc: dict[str, Any] = {}
        self._read_at = float("-inf")

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

    async def status(self) -> dict[str, Any]:
        """The status document, read again once it is a sample interval old."""
        async with self._reading:
            if time.monotonic() - self._read_at >= self.settings.console_sample_ms / 1000:
                self._doc = await asyncio.to_thread(self._read)
                self._read_at = time.monotonic()
            return self._doc

    def _read(self) -> dict[str, Any]:
        doc = self.board.read(self.client())
        return {
            "at": int(time.time() * 1000),
            "actions": self.settings.api_token is not None,
            **doc,
        }

    async def act(self, operation: Callable[[SyncClient], T]) -> T:
        """Run ``operation`` (a CLI function) on the client; the next status reads afresh."""
        async with self._acting:
            try:
                return await asyncio.to_thread(lambda: operation(self.client()))
            finally:
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
DlqId = Annotated[str, PathParam(pattern=ID_PATTERN, max_length=41)]


def _json(doc: Any) -> Response:
    return Response(orjson.dumps(doc), media_type="application/json")


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
    app.add_exception_handler(ShardCountMismatch, _no_deployment)
    app.mount("/console", StaticFiles(directory=STATIC, html=True), name="console")
