"""Waiting for an HTTP service that was just started to answer."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping

import httpx


def wait_until_up(
    url: str,
    *,
    watch: Mapping[str, subprocess.Popen[bytes]] | None = None,
    timeout: float = 60.0,
    every: float = 0.05,
    pid: int | None = None,
) -> None:
    """Poll ``GET url`` every ``every`` s until it answers ``200``.

    Raises ``RuntimeError`` as soon as a process of ``watch`` (by name) has
    exited, which no amount of waiting would mend, or when ``timeout`` s pass
    without a ``200``. A refused connection or a slow answer (over 1 s) is
    "not yet"; so is, given ``pid``, a ``200`` from another process (another
    service on the same port: the answer must name ``pid``).
    """
    deadline = time.monotonic() + timeout
    while True:
        for name, proc in (watch or {}).items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with status {proc.returncode}")
        try:
            answer = httpx.get(url, timeout=1)
            if answer.status_code == 200 and (pid is None or answer.json().get("pid") == pid):
                return
        except (httpx.HTTPError, ValueError, AttributeError):  # not ours, or not JSON
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no answer 200 from {url} within {timeout:g} s")
        time.sleep(every)
