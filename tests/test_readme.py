"""The README as a new user follows it: its commands exist, in an order that works."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from services.cli.parser import build_parser

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"```bash\n(.*?)```", README, re.S)


def commands(block: str) -> list[str]:
    """The command lines of a bash block, comments and continuations dropped."""
    found = []
    for line in block.replace("\\\n", " ").splitlines():
        code = line.split(" #", 1)[0].strip()
        if code and not code.startswith("#"):
            found.append(code)
    return found


def tour() -> list[str]:
    section = README.split("## A five-minute tour", 1)[1]
    return commands(re.findall(r"```bash\n(.*?)```", section, re.S)[0])


def test_a_venv_is_made_and_activated_before_the_first_pip_install() -> None:
    first = commands(BLOCKS[0])
    pip = next(i for i, c in enumerate(first) if "pip install -e ." in c)
    assert any("-m venv" in c and "activate" in c for c in first[: pip + 1]), first


def test_status_watch_which_never_returns_comes_last_in_the_tour() -> None:
    steps = tour()
    assert steps[-1] == "txflow status --watch"
    assert not [s for s in steps if s.startswith("export REDIS_URL")]  # found by itself


TXFLOW_LINES = [c for b in BLOCKS for c in commands(b) if c.startswith("txflow ")]


@pytest.mark.parametrize("line", TXFLOW_LINES)
def test_every_txflow_command_in_the_readme_parses(line: str) -> None:
    words = [w for w in shlex.split(line.split("&&")[0].split(">")[0]) if not w.startswith("<")]
    build_parser().parse_args(words[1:])  # exits (fails the test) on an unknown option


def test_the_api_documents_are_named() -> None:
    assert "`/docs` is the Swagger UI" in README and "`/openapi.json`" in README
    assert "application/x-ndjson" in README


def test_the_embedded_server_is_said_to_be_linux_only_with_what_macos_users_do() -> None:
    assert "Linux only" in README and "brew install redis" in README
