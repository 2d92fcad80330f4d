"""Conformance with six public implementations of the classic exercise (DESIGN §8).

Cases marked ``yes`` in the corpus index must give the expected output through
``txflow replay --engine memory``; cases marked ``no`` are deliberate
divergences and must still differ, so a change of semantics is noticed.
"""

from __future__ import annotations

import pytest

from services.cli.__main__ import main
from tests.corpus import CORPUS, Case, cases, parse_accounts

CASES = cases()
pytestmark = pytest.mark.skipif(
    not CASES, reason=f"peer corpus not found at {CORPUS} (it lives beside the repository)"
)


def replay(case: Case, capsys: pytest.CaptureFixture[str]) -> str:
    # some cases hold malformed rows on purpose: the accounts are what is compared
    assert main(["replay", "--engine", "memory", "--allow-skipped", str(case.input)]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("case", [c for c in CASES if c.matches], ids=lambda c: c.name)
def test_recommended_case_gives_the_expected_accounts(
    case: Case, capsys: pytest.CaptureFixture[str]
) -> None:
    assert parse_accounts(replay(case, capsys)) == parse_accounts(case.expected.read_text())


@pytest.mark.parametrize("case", [c for c in CASES if not c.matches], ids=lambda c: c.name)
def test_deliberate_divergence_still_differs(
    case: Case, capsys: pytest.CaptureFixture[str]
) -> None:
    # hinges on: withdrawals are not disputable (DESIGN §1) — see INDEX.tsv
    assert "withdrawal disputable" in case.hinges_on
    assert parse_accounts(replay(case, capsys)) != parse_accounts(case.expected.read_text())


def test_the_corpus_has_the_cases_we_expect() -> None:
    assert sum(c.matches for c in CASES) >= 50
    assert sum(not c.matches for c in CASES) == 4
