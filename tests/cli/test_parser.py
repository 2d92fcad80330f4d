"""The txflow command line itself: every option explains itself in --help."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import suppress
from unittest import mock

import pytest

from services.cli.parser import build_parser
from services.ingest.__main__ import main as ingest_main
from services.worker.__main__ import main as worker_main


def walk(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.Action]]:
    """Every action of ``parser`` and of its subcommands, with the command's name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from walk(sub)
        else:
            yield parser.prog, action


def test_every_option_and_argument_has_help() -> None:
    missing = [
        f"{prog} {'/'.join(a.option_strings) or a.dest}"
        for prog, a in walk(build_parser())
        if not a.help or a.help == argparse.SUPPRESS
    ]
    assert missing == []


def test_data_dir_help_does_not_call_every_redis_embedded() -> None:
    up = next(
        a for prog, a in walk(build_parser()) if prog.endswith(" up") and a.dest == "data_dir"
    )
    assert up.help is not None and "embedded Redis" not in up.help


def parser_of(main: Callable[[list[str]], int]) -> argparse.ArgumentParser:
    """The parser a service's ``main`` builds, caught as it parses."""
    seen: list[argparse.ArgumentParser] = []

    def caught(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        seen.append(self)
        raise SystemExit(0)

    with mock.patch.object(argparse.ArgumentParser, "parse_args", caught), suppress(SystemExit):
        main([])
    return seen[0]


@pytest.mark.parametrize("main", [ingest_main, worker_main], ids=["ingest", "worker"])
def test_every_option_of_the_services_has_help(main: Callable[[list[str]], int]) -> None:
    parser = parser_of(main)
    missing = [a.dest for _, a in walk(parser) if not a.help or a.help == argparse.SUPPRESS]
    assert missing == []
