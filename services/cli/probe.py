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
) -> None:
    """Poll ``GET url`` every ``every`` s until it answers ``200``.

    Raises ``RuntimeError`` as soon as a process of ``watch`` (by name) has
    exited, which no amount of waiting would mend, or when ``timeout`` s pass
    without a ``200``. A refused connection or a slow answer (over 1 s) is
    "not yet".
    """
    deadline = time.monotonic() + timeout
    while True:
        for name, proc in (watch or {}).items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with status {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no answer 200 from {url} within {timeout:g} s")
        time.sleep(every)
