"""The machine a benchmark ran on, as its sections and JSON state it."""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis


def facts(client: redis.Redis, load_before: float) -> dict[str, Any]:
    """Cores, CPU model, Python, Redis, kernel, date, and the load average before the run."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    return {
        "nproc": os.cpu_count(),
        "cpu": model.group(1).strip() if model else platform.processor(),
        "python": platform.python_version(),
        "redis": client.info("server")["redis_version"],
        "kernel": platform.release(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": load_before,  # other work on the machine skews every figure
    }
