"""Optional bearer-token auth for the ``/v1`` routes (``TXFLOW_API_TOKEN``)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, params
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.ingest import problems

# Parses the header and declares the scheme in OpenAPI; the check is ours (401).
_bearer = HTTPBearer(auto_error=False, description="the value of TXFLOW_API_TOKEN")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


class TokenGuard:
    """A dependency refusing requests without ``Authorization: Bearer <token>``."""

    def __init__(self, token: str) -> None:
        self._expected = token.encode()

    async def __call__(self, credentials: Credentials) -> None:
        given = b"" if credentials is None else credentials.credentials.encode()
        if not hmac.compare_digest(given, self._expected):
            raise problems.unauthorized()


def guards(token: str | None) -> list[params.Depends]:
    """Dependencies for a router: none without a token (unset or empty), else a ``TokenGuard``."""
    return [Depends(TokenGuard(token))] if token else []
