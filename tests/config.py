"""One typed way for tests to build ``Settings``."""

from __future__ import annotations

from typing import Any

from shared.settings import Settings


def settings(redis_url: str | None = None, **values: Any) -> Settings:
    """``Settings`` from field names (as ``TXFLOW_*`` would set them), the rest from the
    environment and defaults; ``redis_url`` goes through its alias ``REDIS_URL``."""
    if redis_url is not None:
        values["REDIS_URL"] = redis_url
    return Settings(**values)
