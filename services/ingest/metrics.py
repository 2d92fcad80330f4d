"""Prometheus metrics of one app, in its own registry (several apps may share a process)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_TYPE", "Metrics", "RequestMetrics"]

_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_ENTRIES = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


class Metrics:
    """Every metric ingest exports; names prefixed ``txflow_``."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "txflow_http_requests",
            "HTTP requests answered",
            ["route", "method", "status"],
            registry=r,
        )
        self.accepted = Counter(
            "txflow_transactions_accepted", "Transactions appended to a shard stream", registry=r
        )
        self.invalid = Counter("txflow_invalid_requests", "Requests answered 422", registry=r)
        self.throttled = Counter(
            "txflow_throttled_requests", "Requests answered 429 (backpressure)", registry=r
        )
        self.pipeline_seconds = Histogram(
            "txflow_xadd_pipeline_seconds",
            "Round trip of one XADD pipeline",
            buckets=_SECONDS,
            registry=r,
        )
        self.pipeline_entries = Histogram(
            "txflow_xadd_pipeline_entries",
            "Entries per XADD pipeline",
            buckets=_ENTRIES,
            registry=r,
        )
        self.lag = Gauge("txflow_shard_lag", "Undelivered + pending entries", ["shard"], registry=r)
        self.inflight = Gauge(
            "txflow_appends_in_flight",
            "Entries queued or in a pipeline to Redis (at most TXFLOW_MAX_INFLIGHT)",
            registry=r,
        )
        self.parked = Gauge(
            "txflow_parked_accounts", "Accounts parked behind an entry", ["shard"], registry=r
        )
        self.held = Gauge(
            "txflow_held_entries", "Entries held by parked accounts", ["shard"], registry=r
        )
        self._answers: dict[tuple[str, str, int], Counter] = {}

    def count_request(self, route: str, method: str, status: int) -> None:
        """One HTTP answer of ``route`` (a template), ``method`` and ``status``.

        Each label set's counter is looked up once and kept, off
        prometheus-client's locked lookup.
        """
        key = (route, method, status)
        counter = self._answers.get(key)
        if counter is None:
            counter = self._answers[key] = self.requests.labels(route, method, str(status))
        counter.inc()
        if status == 422:
            self.invalid.inc()
        elif status == 429:
            self.throttled.inc()

    def observe_pipeline(self, entries: int, seconds: float) -> None:
        self.pipeline_entries.observe(entries)
        self.pipeline_seconds.observe(seconds)

    def watch_inflight(self, read: Callable[[], int]) -> None:
        """Report ``read()`` as the entries in flight, read when scraped (nothing per request)."""
        self.inflight.set_function(read)

    def observe_lags(self, lags: Sequence[int]) -> None:
        for shard, lag in enumerate(lags):
            self.lag.labels(str(shard)).set(lag)

    def observe_parking(self, shards: Sequence[tuple[int, int]]) -> None:
        """Each shard's (parked accounts, held entries), read when the metrics are scraped."""
        for shard, (accounts, held) in enumerate(shards):
            self.parked.labels(str(shard)).set(accounts)
            self.held.labels(str(shard)).set(held)

    def render(self) -> bytes:
        return generate_latest(self.registry)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    """ASGI middleware counting HTTP answers by route template, method and status.

    Label values are bounded: the route is a template (or ``<unmatched>``) and
    an unknown method is counted as ``OTHER``.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the server answers when the app raises before responding

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            self.count(scope, status)

    def count(self, scope: Scope, status: int) -> None:
        route = getattr(scope.get("route"), "path", "<unmatched>")
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        self.metrics.count_request(route, method, status)
