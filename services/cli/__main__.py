"""``txflow``: settings built once, the command run, its errors said in one line."""

from __future__ import annotations

import argparse
import re
import sys

import httpx
import redis
from pydantic import ValidationError

from services.cli import (
    account,
    dlq,
    load,
    migrate,
    parked,
    replay,
    status,
    target,
    up,
    waitload,
)
from services.cli.parser import SKIPPED, build_parser
from services.cli.poster import ApiError
from services.cli.redis_process import NoRedisServer
from shared.errors import ShardCountMismatch, TxflowError
from shared.history import CURSOR_PATTERN, MAX_LIMIT
from shared.settings import Settings
from shared.store import SyncClient, connect_sync

__all__ = ["build_parser", "main"]

# What a command does when neither REDIS_URL nor a running txflow up says where Redis is.
FALLBACK = {
    "load": "latency and outcomes are left out (they are read from Redis)",
    "replay": "starting a throwaway stack",
}


def run(args: argparse.Namespace, settings: Settings, where: target.Target | None) -> int:
    if args.command == "up":
        redis_url = settings.redis_url if target.given(settings) else None
        return up.up(settings, redis_url, args.workers, args.host, args.port, args.data_dir)
    if args.command == "replay" and args.engine == "memory":
        return replayed(args, replay.replay_memory(args.file, sys.stdout, args.encoding))
    assert where is not None
    token = args.token if getattr(args, "token", None) else settings.api_token
    if args.command == "replay":
        return replayed(args, replay_services(args, settings, where, token))
    if args.command == "load":
        return load_command(args, where, token)
    client = client_of(where.settings)
    try:
        if args.command == "status":
            return status.status(client, json=args.json, watch=args.watch)
        if args.command == "parked":
            return run_parked(client, args)
        if args.command == "account":
            return show_account(client, args)
        if args.command == "migrate":
            print(migrate.migrate(client, force=args.force, limit=args.limit).describe())
            return 0
        if args.dlq_command == "list":
            dlq.show_table(dlq.letters(client))
        elif args.dlq_command == "show":
            print(status.as_json(dlq.find(client, args.id)))
        else:
            print(f"replayed {args.id} as {dlq.replay(client, args.id)}")
        return 0
    finally:
        client.close()


def show_account(client: SyncClient, args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= MAX_LIMIT or not re.match(CURSOR_PATTERN, args.cursor or "_x"):
        print(f"txflow: --limit is 1 to {MAX_LIMIT}, --cursor as printed", file=sys.stderr)
        return 2
    found = account.statement(
        client, args.account, cursor=args.cursor, limit=args.limit, order=args.order
    )
    if args.json:
        print(status.as_json(found))
    else:
        account.show_table(found)
    return 0


def run_parked(client: SyncClient, args: argparse.Namespace) -> int:
    if args.parked_command == "list":
        parked.show_table(parked.accounts(client))
        return 0
    if args.parked_command == "show":
        print(status.as_json(parked.show(client, args.account)))
        return 0
    note = getattr(args, "note", "")
    found = parked.resolve(client, args.parked_command, args.account, note, args.timeout)
    print(parked.describe(found))
    return 0 if found["status"] == "released" else 1


def client_of(settings: Settings) -> SyncClient:
    """A client of ``settings.redis_url`` (a cluster client with ``TXFLOW_REDIS_CLUSTER=1``)."""
    return connect_sync(settings, decode_responses=True)


def replay_services(
    args: argparse.Namespace, settings: Settings, where: target.Target, token: str | None
) -> replay.Summary:
    api = args.api
    if api is None and where.up is not None:
        api = where.up.api
        print(f"txflow replay: through the ingest of that txflow up, {api}", file=sys.stderr)
    return replay.replay_services(
        args.file,
        sys.stdout,
        where.settings,
        api,
        args.workers,
        token=token,
        redis_known=where.known if args.api is None else target.given(settings),
        encoding=args.encoding,
    )


def replayed(args: argparse.Namespace, summary: replay.Summary) -> int:
    print(summary.line(), file=sys.stderr)
    return SKIPPED if summary.skipped and not args.allow_skipped else 0


def load_command(args: argparse.Namespace, where: target.Target, token: str | None) -> int:
    api = args.api or (where.up.api if where.up else "http://127.0.0.1:8000")
    if args.wait is not None:
        waited = waitload.wait_load(
            api,
            token,
            args.accounts,
            args.count,
            args.rate,
            args.seed,
            wait_s=args.wait,
            concurrency=args.concurrency,
        )
        print(status.as_json(waited) if args.json else waitload.render(waited))
        return 0
    client = client_of(where.settings) if where.known else None  # else: said in its note
    workload = (args.accounts, args.count, args.rate, args.batch, args.seed)
    found = load.load(api, token, *workload, client)
    print(status.as_json(found) if args.json else load.render(found))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as e:
        print(f"txflow: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    where = None
    if args.command != "up" and getattr(args, "engine", "") != "memory":
        where = target.resolve(settings, args.data_dir, fallback=FALLBACK.get(args.command))
        needs_no_redis = (args.command == "replay" and args.api) or getattr(args, "wait", None)
        if where.note and not needs_no_redis:
            print(f"txflow: {where.note}", file=sys.stderr, flush=True)
    url = where.redis_url if where else settings.redis_url
    try:
        return run(args, settings, where)
    except OSError as e:  # a file that cannot be read
        print(f"txflow: {e.strerror or e}: {getattr(e, 'filename', '') or ''}", file=sys.stderr)
        return 2
    except (redis.ConnectionError, redis.RedisClusterException) as e:
        print(f"txflow: cannot reach Redis at {url} ({e}); set REDIS_URL", file=sys.stderr)
    except (ShardCountMismatch, LookupError) as e:  # what was looked for, and where
        print(f"txflow: {e} (at {url})", file=sys.stderr)
    except (httpx.HTTPError, ApiError) as e:
        print(f"txflow: {e}", file=sys.stderr)
    except (TxflowError, NoRedisServer, RuntimeError) as e:
        print(f"txflow: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
