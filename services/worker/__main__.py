"""``python -m services.worker [--id ID] [--burst]``."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys

from services.worker.worker import Worker
from shared.errors import ConfigError
from shared.settings import Settings
from shared.store import UNAVAILABLE, connect


async def serve(settings: Settings, worker_id: str | None, burst: bool) -> None:
    client = connect(settings, decode_responses=True)
    worker = Worker(settings, client, worker_id, burst=burst)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.request_stop)
    try:
        await worker.run()
    finally:
        await client.aclose()


def tune_gc() -> None:
    """Fewer, cheaper cycle collections: a tenth of the worker's CPU went to them.

    Each transaction leaves a few container objects, so the default threshold
    (700 allocations) ran a young collection every few transactions, and the
    cache's accounts made every older one long. Nothing of the worker's hot
    path forms cycles: reference counting frees it. What exists at start (the
    imported modules) is frozen out of every collection.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.worker", description=__doc__)
    parser.add_argument("--id", help="worker id (default: host-pid-random)")
    parser.add_argument("--burst", action="store_true", help="drain what is there, commit, exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings()
    tune_gc()
    try:
        import uvloop

        uvloop.run(serve(settings, args.id, args.burst))
    except ConfigError as e:
        print(f"txflow worker: {e}", file=sys.stderr)
        return 2
    except UNAVAILABLE as e:
        print(f"txflow worker: redis unavailable at {settings.redis_url}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
