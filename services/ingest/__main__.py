"""``python -m services.ingest``: settings, logging, a preflight, then uvicorn.

Exit status: 0 after a clean stop (SIGTERM, Ctrl-C), 2 when the configuration contradicts the
deployment (one line on stderr), 1 when Redis stayed unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

import uvicorn
from pydantic import ValidationError

from services.ingest.app import create_app
from services.ingest.limits import connection_cap, descriptor_limit
from services.ingest.preflight import prepare
from services.ingest.protocol import protocol_class
from shared.errors import ConfigError, StoreUnavailable
from shared.settings import Settings

log = logging.getLogger("txflow.ingest")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.ingest", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning"], help="(default info)"
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.add_argument(
        "--redis-wait",
        type=float,
        default=30.0,
        metavar="S",
        help="how long to wait for Redis at start-up (default 30 s)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with _stop_is_success():
        try:
            settings = Settings()
            cap = connection_cap(settings.max_connections, descriptor_limit())
            protocol = protocol_class(settings, cap)
            asyncio.run(prepare(settings, wait_s=args.redis_wait))
        except (ValidationError, ConfigError) as e:
            print(f"txflow ingest: {_one_line(e)}", file=sys.stderr)
            return 2
        except StoreUnavailable as e:
            print(f"txflow ingest: {e}", file=sys.stderr)
            return 1
        # While serving, uvicorn's own handlers take SIGINT/SIGTERM: stop accepting,
        # finish the requests in flight, run the lifespan's exit (flush the appender).
        # X-Forwarded-For only from the proxies named: uvicorn's own default trusts
        # it from 127.0.0.1, where any local client could name any address.
        # The protocol is uvicorn's httptools one with the limits uvicorn lacks;
        # no WebSocket: the service serves none, and an upgrade would take the
        # connection out of the protocol's accounting.
        log.info(
            "client limits: %s, keep-alive %d s", protocol.gate.describe(), settings.keep_alive_s
        )
        uvicorn.run(
            create_app(settings),
            host=args.host,
            port=args.port,
            loop="uvloop",
            http=protocol,
            ws="none",
            timeout_keep_alive=settings.keep_alive_s,
            lifespan="on",
            log_level=args.log_level,
            access_log=args.access_log,
            proxy_headers=bool(settings.forwarded_allow_ips),
            forwarded_allow_ips=settings.forwarded_allow_ips or None,
        )
    return 0


@contextmanager
def _stop_is_success() -> Iterator[None]:
    """SIGTERM and Ctrl-C end the process with status 0 and no traceback.

    uvicorn re-raises the signal it handled once it has shut down; the
    handlers installed here turn that (or a signal during the preflight) into
    a clean exit.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


if __name__ == "__main__":
    sys.exit(main())
