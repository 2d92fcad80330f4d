"""``shared.outage``: a run of failures is logged when it starts and when it ends."""

from __future__ import annotations

import logging

import pytest

from shared.errors import StoreUnavailable
from shared.outage import MAX_DISTINCT, QUIET_S, Outage, describe


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outage(clock: Clock) -> Outage:
    return Outage(logging.getLogger("test.outage"), "svc: Redis", clock=clock)


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_identical_failures_are_logged_once_then_the_recovery_with_count_and_duration(
    outage: Outage, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "test.outage")
    for _ in range(1000):
        outage.failed(TimeoutError("no answer"))
        clock.now += 0.01
    outage.ok()
    outage.ok()  # not failing: nothing to say
    assert lines(caplog) == [
        "svc: Redis: TimeoutError: no answer (repeats are counted until it recovers)",
        "svc: Redis: recovered after 1000 failure(s) over 10.0 s",
    ]
    assert caplog.records[0].levelno == logging.WARNING
    assert not outage.failing and outage.failures == 0


def test_a_new_error_in_the_same_outage_is_logged_too_up_to_a_bound(
    outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "test.outage")
    for i in range(MAX_DISTINCT + 3):
        outage.failed(f"error {i}")
        outage.failed(f"error {i}")
    assert len(lines(caplog)) == MAX_DISTINCT
    assert outage.failures == 2 * (MAX_DISTINCT + 3)


def test_the_outage_ends_when_every_failing_source_succeeded(
    outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "test.outage")
    outage.failed("down", "tick")
    outage.failed("down", 3)
    outage.ok(7)  # never failed: changes nothing
    outage.ok("tick")
    assert outage.failing
    outage.ok(3)
    assert not outage.failing
    assert lines(caplog)[-1] == "svc: Redis: recovered after 2 failure(s) over 0.0 s"


def test_a_failure_long_after_the_last_one_starts_a_new_outage(
    outage: Outage, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    # A source whose success never came (no request since) must not mute the next outage.
    caplog.set_level(logging.INFO, "test.outage")
    outage.failed("refused", "appends")
    clock.now += QUIET_S + 1
    outage.failed("refused", "appends")
    assert [m.split(": ", 2)[2] for m in lines(caplog)] == [
        "refused (repeats are counted until it recovers)",
        f"no failure for a while after 1 failure(s) over {QUIET_S + 1:.1f} s",
        "refused (repeats are counted until it recovers)",
    ]


def test_a_traceback_is_logged_once_when_asked(
    outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    try:
        raise AttributeError("closed transport")
    except AttributeError as e:
        error = e
    outage.failed(error, traceback=True)
    outage.failed(error, traceback=True)
    assert len(caplog.records) == 1
    assert caplog.records[0].exc_info is not None


def test_our_errors_are_described_by_their_message_others_with_their_type() -> None:
    assert describe(StoreUnavailable("Redis refuses writes: OOM")) == "Redis refuses writes: OOM"
    assert (
        describe(ConnectionError("Error 111\n connecting"))
        == "ConnectionError: Error 111 connecting"
    )
    assert describe(TimeoutError()) == "TimeoutError"
