"""``txflow`` — the operator command line."""

from __future__ import annotations

import argparse
import sys

from services.cli import replay


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="txflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    rp = commands.add_parser("replay", help="replay a CSV of transactions, print the accounts")
    rp.add_argument("file", help="CSV of type,client,tx,amount ('-' for stdin)")
    rp.add_argument(
        "--engine",
        choices=["memory"],
        default="memory",
        help="memory: the ledger core in this process, no Redis",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "replay":
            replay.replay_memory(args.file, sys.stdout)
            return 0
    except OSError as e:
        print(f"txflow: {e.strerror or e}: {getattr(e, 'filename', '') or ''}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
