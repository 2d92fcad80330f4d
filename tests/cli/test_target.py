"""Which Redis a command uses without REDIS_URL: the running ``txflow up``'s, said aloud."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.cli import datadir
from services.cli.target import resolve
from tests import config

DEFAULT = "redis://127.0.0.1:6379/0"


def test_redis_url_wins_and_needs_no_note(tmp_path: Path) -> None:
    found = resolve(config.settings("redis://10.0.0.1:7000/0"), tmp_path)
    assert found.known and found.note is None and found.redis_url == "redis://10.0.0.1:7000/0"


@pytest.mark.parametrize("name", ["REDIS_URL", "TXFLOW_REDIS_URL"])
def test_a_url_from_the_environment_wins(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv(name, "redis://10.0.0.2:7000/0")
    found = resolve(config.settings(), tmp_path)
    assert found.known and found.note is None and found.redis_url == "redis://10.0.0.2:7000/0"


@pytest.fixture
def no_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither ``REDIS_URL`` nor ``TXFLOW_REDIS_URL`` in the environment."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("TXFLOW_REDIS_URL", raising=False)


@pytest.mark.usefixtures("no_redis_url")
def test_the_up_holding_the_data_dir_is_used_and_named(tmp_path: Path) -> None:
    running = datadir.Running(os.getpid(), "redis://127.0.0.1:45678/0", "http://127.0.0.1:8123")
    with datadir.claim(tmp_path):
        datadir.record(tmp_path, running)
        found = resolve(config.settings(), tmp_path)
    assert found.known and found.up == running and found.redis_url == running.redis_url
    assert found.note == (
        f"REDIS_URL is not set: using redis://127.0.0.1:45678/0 of the txflow up "
        f"(pid {os.getpid()}) in {tmp_path}"
    )


@pytest.mark.usefixtures("no_redis_url")
def test_a_record_left_by_a_dead_up_is_ignored_and_the_guess_is_named(tmp_path: Path) -> None:
    # what a kill -9 of txflow up leaves: its record, but no process holding the lock
    with datadir.claim(tmp_path):
        datadir.record(tmp_path, datadir.Running(1, "redis://127.0.0.1:45678/0", "http://x"))
        (tmp_path / "up.json").rename(tmp_path / "kept.json")
    (tmp_path / "kept.json").rename(tmp_path / "up.json")
    found = resolve(config.settings(), tmp_path)
    assert not found.known and found.up is None and found.redis_url == DEFAULT
    assert found.note == (
        f"REDIS_URL is not set and no txflow up runs in {tmp_path}: trying {DEFAULT}"
    )


def test_a_second_claim_is_refused_naming_the_holder(tmp_path: Path) -> None:
    with datadir.claim(tmp_path):
        datadir.record(tmp_path, datadir.Running(os.getpid(), "redis://h:1/0", "http://h:2"))
        try:
            with datadir.claim(tmp_path):
                raise AssertionError("claimed twice")
        except datadir.AlreadyRunning as e:
            assert f"another txflow up (pid {os.getpid()}) is running on {tmp_path}" in str(e)
        assert (tmp_path / "up.json").exists()  # the refused one leaves the record alone
    with datadir.claim(tmp_path):  # released: free again
        pass
