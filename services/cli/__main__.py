"""txflow — ordered, exactly-once transaction processing on Redis Streams."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import httpx
import redis

from services.cli import dlq, load, replay, status, up
from services.cli.poster import ApiError
from services.cli.redis_process import NoRedisServer
from shared.errors import TxflowError
from shared.settings import Settings
from shared.store import SyncClient, connect_sync

TOKEN_HELP = "the ingest's bearer token (default: TXFLOW_API_TOKEN)"
SKIPPED = 3  # replay's exit status when it skipped malformed rows (see --allow-skipped)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="txflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    u = commands.add_parser("up", help="start Redis, ingest and workers in the foreground")
    u.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    u.add_argument("--host", default="127.0.0.1", help="ingest address (default 127.0.0.1)")
    u.add_argument("--port", type=int, default=8000, help="ingest port (default 8000)")
    u.add_argument("--data-dir", type=Path, default=Path(".txflow"),
                   help="where txflow up's own Redis (redis-server, else the embedded one) "
                        "keeps its AOF and log (default ./.txflow)")  # fmt: skip

    rp = commands.add_parser("replay", help="replay a CSV of transactions, print the accounts")
    rp.add_argument("file", help="CSV of type,client,tx,amount ('-' for stdin)")
    rp.add_argument("--engine", choices=["services", "memory"], default="services",
                    help="services: through ingest and workers (default); "
                         "memory: the ledger core in this process, no Redis")  # fmt: skip
    rp.add_argument("--api", help="an ingest already running (with its workers)")
    rp.add_argument("--token", help=TOKEN_HELP)
    rp.add_argument("--workers", type=int, default=2, help="workers to start without --api")
    rp.add_argument(
        "--encoding",
        default=replay.DEFAULT_ENCODING,
        help="the file's text encoding (default UTF-8; e.g. latin-1)",
    )
    rp.add_argument(
        "--allow-skipped",
        action="store_true",
        help=f"exit 0 when malformed rows were skipped (default: exit {SKIPPED})",
    )

    st = commands.add_parser("status", help="shards, owners, lag, pending, dead letters")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.add_argument("--watch", type=float, nargs="?", const=1.0, metavar="S",
                    help="refresh every S seconds (default 1)")  # fmt: skip

    ld = commands.add_parser("load", help="post a generated workload and summarise it")
    ld.add_argument("--api", default="http://127.0.0.1:8000", help="the ingest to load")
    ld.add_argument("--token", help=TOKEN_HELP)
    ld.add_argument(
        "--accounts", type=int, default=1000, help="accounts to spread it over (default 1000)"
    )
    ld.add_argument("--count", type=int, default=20_000, help="transactions to post")
    ld.add_argument("--rate", type=float, default=0, help="tx/s (default: as fast as possible)")
    ld.add_argument("--batch", type=int, default=200, help="transactions per POST")
    ld.add_argument("--seed", type=int, default=int(time.time()), help="workload seed")
    ld.add_argument("--json", action="store_true", help="machine-readable summary")

    dq = commands.add_parser("dlq", help="dead letters: list, show, replay")
    dq_commands = dq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    dq_commands.add_parser("list", help="every dead letter with its reason")
    for action in ("show", "replay"):
        a = dq_commands.add_parser(action, help=f"{action} one dead letter")
        a.add_argument("id", help="the dead letter's id (from 'txflow dlq list')")
    return parser


def redis_client() -> SyncClient:
    """The client of ``REDIS_URL`` (a cluster client with ``TXFLOW_REDIS_CLUSTER=1``)."""
    return connect_sync(Settings(), decode_responses=True)


def run(args: argparse.Namespace) -> int:
    if args.command == "up":
        redis_url = os.environ.get("REDIS_URL")
        return up.up(Settings(), redis_url, args.workers, args.host, args.port, args.data_dir)
    if args.command == "replay":
        if args.engine == "memory":
            replayed = replay.replay_memory(args.file, sys.stdout, args.encoding)
        else:
            replayed = replay.replay_services(
                args.file,
                sys.stdout,
                Settings(),
                args.api,
                args.workers,
                token=args.token or Settings().api_token,
                redis_known="REDIS_URL" in os.environ,
                encoding=args.encoding,
            )
        print(replayed.line(), file=sys.stderr)
        return SKIPPED if replayed.skipped and not args.allow_skipped else 0
    if args.command == "load":
        client = redis_client() if "REDIS_URL" in os.environ else None
        token = args.token or Settings().api_token
        summary = load.load(
            args.api, token, args.accounts, args.count, args.rate, args.batch, args.seed, client
        )
        print(status.as_json(summary) if args.json else load.render(summary))
        return 0
    client = redis_client()
    if args.command == "status":
        return status.status(client, json=args.json, watch=args.watch)
    if args.dlq_command == "list":
        dlq.show_table(dlq.letters(client))
    elif args.dlq_command == "show":
        print(status.as_json(dlq.find(client, args.id)))
    else:
        print(f"replayed {args.id} as {dlq.replay(client, args.id)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except OSError as e:  # a file that cannot be read
        print(f"txflow: {e.strerror or e}: {getattr(e, 'filename', '') or ''}", file=sys.stderr)
        return 2
    except (redis.ConnectionError, redis.RedisClusterException) as e:
        url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        print(f"txflow: cannot reach Redis at {url} ({e}); set REDIS_URL", file=sys.stderr)
    except (httpx.HTTPError, ApiError) as e:
        print(f"txflow: {e}", file=sys.stderr)
    except (TxflowError, NoRedisServer, LookupError, RuntimeError) as e:
        print(f"txflow: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
