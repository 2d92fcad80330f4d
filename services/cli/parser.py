"""The ``txflow`` command line: every command, option and its help."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from services.cli.replay import DEFAULT_ENCODING

DESCRIPTION = "txflow — ordered, exactly-once transaction processing on Redis Streams."
TOKEN_HELP = "the ingest's bearer token (default: TXFLOW_API_TOKEN)"
SKIPPED = 3  # replay's exit status when it skipped malformed rows (see --allow-skipped)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="txflow", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Commands that find a running `txflow up` through its data directory.
    finds = argparse.ArgumentParser(add_help=False)
    finds.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".txflow"),
        help="where a running txflow up records its Redis and ingest, used when "
        "REDIS_URL is not set (default ./.txflow)",
    )

    u = commands.add_parser("up", help="start Redis, ingest and workers in the foreground")
    u.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    u.add_argument("--host", default="127.0.0.1", help="ingest address (default 127.0.0.1)")
    u.add_argument("--port", type=int, default=8000, help="ingest port (default 8000)")
    u.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".txflow"),
        help="its lock and record, and where its own Redis (redis-server, else the "
        "embedded one) keeps its AOF and log (default ./.txflow)",
    )

    rp = commands.add_parser(
        "replay", parents=[finds], help="replay a CSV of transactions, print the accounts"
    )
    rp.add_argument("file", help="CSV of type,client,tx,amount ('-' for stdin)")
    rp.add_argument(
        "--engine",
        choices=["services", "memory"],
        default="services",
        help="services: through ingest and workers (default); "
        "memory: the ledger core in this process, no Redis",
    )
    rp.add_argument("--api", help="an ingest already running (with its workers)")
    rp.add_argument("--token", help=TOKEN_HELP)
    rp.add_argument("--workers", type=int, default=2, help="workers to start, when it starts some")
    rp.add_argument(
        "--encoding",
        default=DEFAULT_ENCODING,
        help="the file's text encoding (default UTF-8; e.g. latin-1)",
    )
    rp.add_argument(
        "--allow-skipped",
        action="store_true",
        help=f"exit 0 when malformed rows were skipped (default: exit {SKIPPED})",
    )

    st = commands.add_parser(
        "status", parents=[finds], help="shards, owners, lag, pending, dead letters"
    )
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.add_argument(
        "--watch",
        type=float,
        nargs="?",
        const=1.0,
        metavar="S",
        help="refresh every S seconds (default 1) until Ctrl-C",
    )

    ld = commands.add_parser(
        "load", parents=[finds], help="post a generated workload and summarise it"
    )
    ld.add_argument(
        "--api", help="the ingest to load (default: txflow up's, else http://127.0.0.1:8000)"
    )
    ld.add_argument("--token", help=TOKEN_HELP)
    ld.add_argument(
        "--accounts", type=int, default=1000, help="accounts to spread it over (default 1000)"
    )
    ld.add_argument("--count", type=int, default=20_000, help="transactions to post")
    ld.add_argument("--rate", type=float, default=0, help="tx/s (default: as fast as possible)")
    ld.add_argument("--batch", type=int, default=200, help="transactions per POST")
    ld.add_argument("--seed", type=int, default=int(time.time()), help="workload seed")
    ld.add_argument(
        "--wait",
        type=int,
        metavar="N",
        help="single POSTs with 'Prefer: wait=N', each timed "
        "until its outcome: the synchronous latency (--batch is not used)",
    )
    ld.add_argument(
        "--concurrency", type=int, default=32, help="with --wait: POSTs at once (default 32)"
    )
    ld.add_argument("--json", action="store_true", help="machine-readable summary")

    ac = commands.add_parser(
        "account", parents=[finds], help="an account's state and its transactions"
    )
    ac.add_argument("account", help="the account id")
    ac.add_argument(
        "--order", choices=["newest", "oldest"], default="newest", help="default newest first"
    )
    ac.add_argument("--limit", type=int, default=50, help="transactions shown (default 50)")
    ac.add_argument("--cursor", help="the page after this one ('more: --cursor …' of the last)")
    ac.add_argument("--json", action="store_true", help="as the API answers, JSON")

    mg = commands.add_parser(
        "migrate", parents=[finds], help="convert the deployment's data to this txflow's schema"
    )
    mg.add_argument(
        "--force", action="store_true", help="run although workers are registered (gone for good)"
    )
    mg.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="convert at most N transaction records in this run (run again to go on)",
    )

    dq = commands.add_parser("dlq", parents=[finds], help="dead letters: list, show, replay")
    dq_commands = dq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    dq_commands.add_parser("list", help="every dead letter with its reason")
    for action in ("show", "replay"):
        a = dq_commands.add_parser(action, help=f"{action} one dead letter")
        a.add_argument("id", help="the dead letter's id (from 'txflow dlq list')")

    pk = commands.add_parser(
        "parked", parents=[finds], help="parked accounts: list, show, retry, skip"
    )
    pk_commands = pk.add_subparsers(dest="parked_command", required=True, metavar="ACTION")
    pk_commands.add_parser("list", help="parked accounts: why, since when, entries held")
    show = pk_commands.add_parser("show", help="a parked account and its held entries")
    show.add_argument("account", help="the parked account")
    retry = pk_commands.add_parser(
        "retry", help="apply the held entries in order (once the cause is fixed)"
    )
    skip = pk_commands.add_parser(
        "skip", help="dead-letter the first held entry with a note, then retry the rest"
    )
    skip.add_argument("--note", required=True, help="why (kept with the dead letter)")
    for a in (retry, skip):
        a.add_argument("account", help="the parked account")
        a.add_argument(
            "--timeout",
            type=float,
            default=30.0,
            metavar="S",
            help="how long to wait for the shard's owner to answer (default 30)",
        )
    return parser
