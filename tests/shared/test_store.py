"""The one translation of redis-py's errors into ours (``shared.store``)."""

from __future__ import annotations

import pytest
from redis import exceptions as rex

from shared.errors import StoreUnavailable
from shared.replicas import ReplicasUnavailable
from shared.store import translated, translating


class Failing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    @translating
    async def call(self) -> None:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        rex.ConnectionError("Error 111 connecting to 10.0.0.1:6379"),
        rex.TimeoutError("Timeout reading from socket"),
        rex.BusyLoadingError("LOADING Redis is loading the dataset in memory"),
        rex.ClusterDownError("CLUSTERDOWN The cluster is down"),
        ConnectionResetError("reset by peer"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_an_unreachable_redis_is_ours_to_retry_with_what_the_driver_said(
    error: Exception,
) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        await Failing(error).call()
    assert caught.value.__cause__ is error
    assert str(caught.value) == f"{type(error).__name__}: {error}"


async def test_a_redis_refusing_writes_is_ours_to_retry() -> None:
    with pytest.raises(StoreUnavailable, match="Redis refuses writes: OOM"):
        await Failing(rex.OutOfMemoryError("OOM command not allowed")).call()


async def test_our_own_errors_and_other_replies_go_up_as_they_are() -> None:
    ours = ReplicasUnavailable("0 of 1 replicas")
    with pytest.raises(ReplicasUnavailable) as caught:
        await Failing(ours).call()
    assert caught.value is ours
    with pytest.raises(rex.ResponseError, match="NOGROUP"):  # a bug or a key deleted: not ours
        await Failing(rex.ResponseError("NOGROUP No such key")).call()
    with pytest.raises(KeyError):
        await Failing(KeyError("name")).call()


async def test_a_translated_block_answers_anyone_without_the_driver_s_text() -> None:
    with pytest.raises(StoreUnavailable) as caught:
        async with translated():
            raise rex.ConnectionError("Error 111 connecting to 10.0.0.1:6379")
    assert str(caught.value) == "Redis is unreachable: ConnectionError"
