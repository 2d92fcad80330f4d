"""The one error tree of txflow.

    TxflowError
    ├── InvalidInput            input that never becomes a transaction (422, CLI line)
    │   └── InvalidAmount       an amount string that is not valid money
    ├── ConfigError             settings that contradict the deployment
    │   ├── ShardCountMismatch  TXFLOW_SHARDS differs from txflow:meta
    │   └── SchemaMismatch      the deployment's data is of another schema version
    ├── StoreUnavailable        Redis could not be reached, or not in time (retry later: 503)
    │   └── Overloaded          ingest holds as many appends in flight as it may (503 at once)
    ├── Fenced                  a commit refused because the shard's lease moved on
    ├── Gap                     a commit refused because entries after ckpt are missing
    └── ProcessingFailed        planning a batch raised at one entry (a bug or a poison entry)

Business rejections (insufficient funds, account locked, ...) are not errors:
they are outcomes with a reason, see ``shared.model.Reason``.
"""

from __future__ import annotations


class TxflowError(Exception):
    """Base of every error txflow raises on purpose."""


class InvalidInput(TxflowError, ValueError):
    """Raised when input fails validation and must not become a transaction."""


class InvalidAmount(InvalidInput):
    """Raised when an amount is not a positive decimal with at most 4 places."""


class ConfigError(TxflowError):
    """Raised when settings are inconsistent with themselves or the deployment."""


class ShardCountMismatch(ConfigError):
    """Raised at start-up when TXFLOW_SHARDS disagrees with ``txflow:meta``."""


class SchemaMismatch(ConfigError):
    """Raised at start-up when ``txflow:meta`` names another schema version than this
    code's (``txflow migrate`` converts an older one)."""


class StoreUnavailable(TxflowError):
    """Raised when Redis cannot be reached, refuses writes for now, or does not
    answer within the deadline; the caller may retry later."""


class Overloaded(StoreUnavailable):
    """Raised when ingest already holds ``TXFLOW_MAX_INFLIGHT`` entries on their way to
    Redis: the request is refused at once rather than queued; retry later."""


class Fenced(TxflowError):
    """Raised when a commit is refused: the worker no longer owns the shard."""


class Gap(TxflowError):
    """Raised when a commit is refused: the batch does not follow ``ckpt``."""


class ProcessingFailed(TxflowError):
    """Raised by a shard runner's planning when deciding the entry at ``index`` raised
    ``error`` (a bug or a poison entry): no plan is made of the batch, since a half-made
    plan is never committed. The runner redelivers the entry or, once its deliveries
    are exhausted, parks its account."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(index, error)
        self.index = index
        self.error = error
