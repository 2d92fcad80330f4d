"""Settings, built once at each entry point and passed down.

Environment variables carry the prefix ``TXFLOW_``, plus the standard
``REDIS_URL``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TXFLOW_", extra="ignore", frozen=True)

    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("REDIS_URL", "TXFLOW_REDIS_URL"),
    )
    # TXFLOW_REDIS_CLUSTER=1: REDIS_URL is a node of a Redis Cluster; the
    # client discovers the others and sends each command to its slot's node.
    redis_cluster: bool = False
    shards: int = Field(default=16, ge=1, le=16384)
    # High availability (shared/replicas.py): a 202, and a worker's commit, count
    # only once this many replicas acknowledged the writes (WAIT) within the timeout
    # (else 503 / an outage); TXFLOW_WAIT_AOF=1: WAITAOF (also on disk), if offered.
    # Sentinel: "host:port,..." of the sentinels; the primary of TXFLOW_SENTINEL_SERVICE
    # is asked of them (and asked again after a failover). REDIS_URL then only lends
    # its database, user and password.
    sentinels: str = ""
    sentinel_service: str = "mymaster"
    min_replicas: int = Field(default=0, ge=0, le=100)
    replica_timeout_ms: int = Field(default=1000, ge=1)
    wait_aof: bool = False

    # ingest
    max_batch: int = Field(default=1000, ge=1)
    max_lag: int = Field(default=100_000, ge=1)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # Surrounding whitespace (a '\r' from an env file) is no part of a token: kept,
    # it would refuse every request. Empty or blank: no auth.
    api_token: Annotated[str | None, AfterValidator(lambda t: (t or "").strip() or None)] = None
    lag_refresh_ms: int = Field(default=100, ge=10)
    # What one client (one source address) may hold of a shard's backlog before
    # its requests for that shard get 429; unset: a quarter of max_lag.
    max_lag_per_client: int | None = Field(default=None, ge=1)
    # Proxies whose X-Forwarded-For names the client (uvicorn's forwarded_allow_ips:
    # addresses or networks, comma-separated, or "*"); empty: the header is ignored.
    forwarded_allow_ips: str = ""
    # Every Redis call of ingest is answered within this (else 503 + Retry-After).
    redis_timeout_ms: int = Field(default=2000, ge=10)
    # Entries queued or in flight to Redis; beyond, 503 at once. At least max_batch.
    max_inflight: int = Field(default=20_000, ge=1)
    # What one client may hold (services/ingest/protocol.py): the request line and
    # headers in bytes (431 beyond) and in time from the first byte (408), the body
    # in time from the end of the headers (408), an idle keep-alive connection, and
    # the connections open at once (unset: derived from RLIMIT_NOFILE).
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    header_timeout_s: float = Field(default=10.0, gt=0)
    body_timeout_s: float = Field(default=60.0, gt=0)
    keep_alive_s: int = Field(default=5, ge=1)
    max_connections: int | None = Field(default=None, ge=1)
    # Prefer: wait=N (services/ingest/waiters.py): N is capped at max_wait_s; at most
    # max_waiters transactions wait at once per process (beyond: 202 as without it).
    max_wait_s: float = Field(default=30.0, gt=0)
    max_waiters: int = Field(default=10_000, ge=1)
    # GET /v1/outcomes (services/ingest/stream.py): open streams per process (503
    # beyond) and commits buffered per stream (a client slower than that is dropped).
    max_streams: int = Field(default=100, ge=1)
    stream_buffer: int = Field(default=1000, ge=1)

    # ingest's console (services/console): it reads Redis only while watched, at
    # most once per sample, however many pages poll it
    console_sample_ms: int = Field(default=1000, ge=100)
    console_history: int = Field(default=600, ge=2, le=100_000)  # samples kept
    console_rows: int = Field(default=100, ge=1, le=10_000)  # dead letters, parked listed
    console_latency_commits: int = Field(default=64, ge=1, le=10_000)  # :out read per sample
    console_action_timeout_s: float = Field(default=10.0, gt=0, le=300)

    # worker
    lease_ttl_ms: int = Field(default=10_000, ge=300)
    batch: int = Field(default=500, ge=1, le=5000)
    block_ms: int = Field(default=1000, ge=1)
    max_deliveries: int = Field(default=5, ge=1)
    cache_idle_s: float = Field(default=300.0, gt=0)
    cache_max_accounts: int = Field(default=200_000, ge=100)
    cache_max_records: int = Field(default=500_000, ge=1000)
    out_maxlen: int = Field(default=1_000_000, ge=1000)
    in_retention_ms: int = Field(default=0, ge=0)
    backoff_max_s: float = Field(default=5.0, gt=0)
    # parked accounts: how long the result of an operator request is kept
    control_result_ttl_s: int = Field(default=3600, ge=1)

    @property
    def client_lag_limit(self) -> int:
        """``max_lag_per_client``, or a quarter of ``max_lag`` when it is unset."""
        return self.max_lag_per_client or max(1, self.max_lag // 4)

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """``TXFLOW_SENTINELS`` as (host, port) pairs; empty: no Sentinel."""
        pairs = [a.strip().rsplit(":", 1) for a in self.sentinels.split(",") if a.strip()]
        return [(host, int(port)) for host, port in pairs]

    @model_validator(mode="after")
    def _sentinels_are_addresses(self) -> Settings:
        try:
            self.sentinel_addresses  # noqa: B018
        except ValueError:
            raise ValueError(
                f"TXFLOW_SENTINELS must be host:port,... (got {self.sentinels!r})"
            ) from None
        if self.sentinels.strip() and self.redis_cluster:
            raise ValueError("TXFLOW_SENTINELS and TXFLOW_REDIS_CLUSTER exclude each other")
        return self

    @model_validator(mode="after")
    def _replicas_answer_before_the_deadline(self) -> Settings:
        if self.min_replicas and self.replica_timeout_ms >= self.redis_timeout_ms:
            raise ValueError(
                f"TXFLOW_REPLICA_TIMEOUT_MS ({self.replica_timeout_ms}) must be below "
                f"TXFLOW_REDIS_TIMEOUT_MS ({self.redis_timeout_ms}): the wait for replicas "
                "is part of an append's deadline"
            )
        return self

    @model_validator(mode="after")
    def _a_full_batch_fits_in_flight(self) -> Settings:
        if self.max_inflight < self.max_batch:
            raise ValueError(
                f"TXFLOW_MAX_INFLIGHT ({self.max_inflight}) is below TXFLOW_MAX_BATCH "
                f"({self.max_batch}): a full batch could never be accepted"
            )
        return self
