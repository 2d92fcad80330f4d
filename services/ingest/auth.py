"""Optional bearer-token auth for the ``/v1`` routes (``TXFLOW_API_TOKEN``)."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, FastAPI, params
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from services.ingest import problems

# Parses the header and declares the scheme in OpenAPI; the check is ours (401).
_bearer = HTTPBearer(auto_error=False, description="the value of TXFLOW_API_TOKEN")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def bearer(authorization: str | None) -> str | None:
    """The credentials of an ``Authorization: Bearer <credentials>`` header, else ``None``.

    What ``HTTPBearer(auto_error=False)`` makes of the header, with FastAPI's
    own parser, for the fast path, which answers before dependencies run.
    """
    scheme, credentials = get_authorization_scheme_param(authorization)
    return credentials if credentials and scheme.lower() == "bearer" else None


class TokenGuard:
    """A dependency refusing requests without ``Authorization: Bearer <token>``."""

    def __init__(self, token: str) -> None:
        self._expected = token.encode()

    async def __call__(self, credentials: Credentials) -> None:
        if not self.admits(None if credentials is None else credentials.credentials):
            raise problems.unauthorized()

    def admits(self, credentials: str | None) -> bool:
        """Whether ``credentials`` are the token; compared in constant time."""
        given = b"" if credentials is None else credentials.encode()
        return hmac.compare_digest(given, self._expected)


def describe(token: str | None) -> str:
    """One line saying whether ``/v1`` needs the token: logged at start, shown by ``txflow up``.

    A blank ``TXFLOW_API_TOKEN`` turns auth off (see ``Settings``): said aloud,
    so that no one believes a service open to all is guarded.
    """
    if token:
        return "auth: bearer token required"
    return "auth: off (TXFLOW_API_TOKEN unset or blank)"


def guard(token: str | None) -> TokenGuard | None:
    """The guard of ``token``; none without a token (unset or empty)."""
    return TokenGuard(token) if token else None


def guards(token: str | None) -> list[params.Depends]:
    """Dependencies for a router: none without a token, else a ``TokenGuard``."""
    found = guard(token)
    return [] if found is None else [Depends(found)]


def document(app: FastAPI) -> None:
    """Declare the bearer scheme in ``app``'s OpenAPI even when no token is configured.

    FastAPI lists a scheme only when a route depends on it, which the ``/v1``
    routes do only with a token; a reader of ``/docs`` should learn how to
    authenticate either way. The operations require it only with a token.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()  # cached by FastAPI: the same dict each time, so setdefault
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes.setdefault(
            "HTTPBearer", _bearer.model.model_dump(mode="json", by_alias=True, exclude_none=True)
        )
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
