"""Which deployment a command talks to: ``REDIS_URL``, else the ``txflow up`` running here.

``status``, ``load``, ``dlq`` and ``replay`` use ``REDIS_URL`` when it is set;
else the Redis (and ingest) that the ``txflow up`` holding the data directory
recorded (``datadir``); else the default URL, as a guess. Whenever
``REDIS_URL`` is not set they say on stderr which one they use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.cli import datadir
from shared.settings import Settings


@dataclass(frozen=True)
class Target:
    settings: Settings  # its redis_url is the one to use
    known: bool  # REDIS_URL, or a running txflow up: not just the default guess
    up: datadir.Running | None = None
    note: str | None = None  # what to say on stderr about the choice

    @property
    def redis_url(self) -> str:
        return self.settings.redis_url


def given(settings: Settings) -> bool:
    """Whether ``settings`` were given a Redis (``REDIS_URL`` or ``TXFLOW_REDIS_URL``)
    rather than defaulting to one: pydantic counts a field read from the
    environment as set."""
    return "redis_url" in settings.model_fields_set


def resolve(settings: Settings, data_dir: Path, fallback: str | None = None) -> Target:
    """The target of a command, given the settings built from the environment.

    ``fallback`` says what the command does with neither (default: it tries
    ``settings.redis_url``).
    """
    if given(settings):
        return Target(settings, known=True)
    running = datadir.running(data_dir)
    if running is not None:
        note = (
            f"REDIS_URL is not set: using {running.redis_url} of the txflow up "
            f"(pid {running.pid}) in {data_dir}"
        )
        recorded = settings.model_copy(update={"redis_url": running.redis_url})
        return Target(recorded, known=True, up=running, note=note)
    fallback = fallback or f"trying {settings.redis_url}"
    note = f"REDIS_URL is not set and no txflow up runs in {data_dir}: {fallback}"
    return Target(settings, known=False, note=note)
