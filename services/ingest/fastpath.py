"""The fast path: ``POST /v1/transactions`` answered in front of FastAPI.

Single POSTs are most of the service's requests, and FastAPI's per-request
plumbing (its telemetry check, the middleware, routing, the dependency solve,
the exception handlers) cost more CPU than reading, validating and appending
the transaction together. ``FastPath`` is the ASGI app the service runs: it
answers that one route itself, sending the ASGI messages directly, and hands
everything else to FastAPI.

It answers as the FastAPI route (``routes.post_transaction``) does, from the
same modules: the token check (``auth``), the body (``body``), the intake, the
problem details (``problems``) and the request counter (``metrics``). The
route stays registered: ``/openapi.json`` describes it, and it answers when
the fast path steps aside (no runtime yet, or the app mounted under a root
path).
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from services.ingest import auth, body, media, problems
from services.ingest.fairness import client_of
from services.ingest.intake import Receipt
from services.ingest.metrics import Metrics
from services.ingest.wait import Wait
from shared.settings import Settings

ROUTE = "/v1/transactions"


class FastPath:
    """An ASGI app: ``POST /v1/transactions`` itself, everything else to ``fastapi``."""

    def __init__(self, fastapi: FastAPI, settings: Settings, metrics: Metrics) -> None:
        self.fastapi = fastapi
        self._guard = auth.guard(settings.api_token)
        self._limit = settings.max_body_bytes
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == ROUTE
            and scope["method"] == "POST"
            and not scope.get("root_path")
        ):
            # Set by the lifespan; before it (or without it) FastAPI answers.
            runtime = getattr(self.fastapi.state, "runtime", None)
            if runtime is not None:
                await self._post(scope, receive, send, runtime.wait)
                return
        await self.fastapi(scope, receive, send)

    async def _post(self, scope: Scope, receive: Receive, send: Send, wait: Wait) -> None:
        """Answer, and count the answer as ``RequestMetrics`` would have."""
        try:
            status, receipt, headers = await self._accept(scope, receive, wait)
        except problems.Problem as problem:
            await self._problem(problem, scope, receive, send)
            return
        except problems.STORE_ERRORS as e:
            await self._problem(problems.store_unavailable(e), scope, receive, send)
            return
        except ClientDisconnect:  # gone before its body arrived: no one to answer
            self._metrics.count_request(ROUTE, "POST", problems.CLIENT_GONE)
            return
        except Exception:
            # As FastAPI's ServerErrorMiddleware does: a 500 problem, then the
            # exception goes on to the server, which logs it.
            await self._problem(problems.internal(), scope, receive, send)
            raise
        payload = orjson.dumps(receipt)
        raw = [(b"content-length", b"%d" % len(payload)), (b"content-type", b"application/json")]
        for name, value in headers.items():
            raw.append((name.encode(), value.encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": payload})
        self._metrics.count_request(ROUTE, "POST", status)

    async def _accept(
        self, scope: Scope, receive: Receive, wait: Wait
    ) -> tuple[int, Receipt, dict[str, str]]:
        """The receipt of the request's transaction, or the ``Problem`` refusing it.

        The checks come in the route's order: the token (a dependency there),
        then the type of the body, its size, its content, the shard's backlog.
        """
        content_length = authorization = content_type = None
        prefer: list[str] | None = None
        for name, value in scope["headers"]:  # the first of each, as Starlette reads them
            if name == b"content-length" and content_length is None:
                content_length = value.decode("latin-1")
            elif name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"content-type" and content_type is None:
                content_type = value.decode("latin-1")
            elif name == b"prefer":  # every one: preferences may be split among several
                prefer = [*(prefer or ()), value.decode("latin-1")]
        if self._guard is not None and not self._guard.admits(auth.bearer(authorization)):
            raise problems.unauthorized()
        media.require(content_type, media.SINGLE)
        tx = body.one(await body.receive(receive, content_length, self._limit))
        if prefer is None:  # the usual request: nothing to parse, nothing to wait for
            (receipt,) = await wait.intake.accept([tx], client_of(scope))
            return 202, receipt, {}
        status, (receipt,), headers = await wait.answer([tx], client_of(scope), prefer)
        return status, receipt, headers

    async def _problem(
        self, problem: problems.Problem, scope: Scope, receive: Receive, send: Send
    ) -> None:
        await problem.response()(scope, receive, send)
        self._metrics.count_request(ROUTE, "POST", problem.status)
