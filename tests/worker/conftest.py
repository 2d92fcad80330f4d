"""Fixtures of the worker tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.worker.support import init


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """A client of an empty deployment of ``SHARDS`` shards (answers as bytes)."""
    c = redis.Redis.from_url(redis_url)
    init(c)
    yield c
    c.close()
