"""The application factory: ``create_app(settings)`` wires routes, errors, metrics, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.console import web as console
from services.ingest import auth, docs, problems, routes
from services.ingest.fastpath import FastPath
from services.ingest.metrics import Metrics, RequestMetrics
from services.ingest.runtime import running
from shared.settings import Settings


def create_app(settings: Settings) -> FastPath:
    """A new ingest app; it connects to Redis when its lifespan starts, not before.

    It serves the ``/v1`` API, the probes, ``/docs`` and the operator console.

    The FastAPI application serves every route; ``FastPath`` in front of it
    answers ``POST /v1/transactions`` without its per-request plumbing.
    """
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(settings, metrics) as runtime:
            app.state.runtime = runtime
            app.state.console = console.Console(settings)
            try:
                yield
            finally:
                app.state.console.close()

    app = FastAPI(
        title="txflow ingest",
        summary="Accepts transactions and appends them to their account's shard stream.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by ``docs`` from local files
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    problems.install(app)
    app.add_middleware(RequestMetrics, metrics=metrics)
    routes.install(app, settings)
    console.install(app, settings)
    docs.install(app)
    auth.document(app)
    return FastPath(app, settings, metrics)
