"""The CSV path of ``txflow replay``: robust reading, exact output, bounded memory."""

from __future__ import annotations

import io
import random
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli.__main__ import main
from services.cli.csvio import BadRow, Row, read_rows


def replay_text(
    tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str], status: int = 0
) -> tuple[str, str]:
    path = tmp_path / "in.csv"
    path.write_bytes(text.encode())
    assert main(["replay", "--engine", "memory", str(path)]) == status
    out = capsys.readouterr()
    return out.out, out.err


def test_output_has_four_decimals_booleans_and_clients_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, err = replay_text(
        tmp_path,
        "type,client,tx,amount\ndeposit,10,1,1.5\ndeposit,2,2,2\nwithdrawal,2,3,0.25\n",
        capsys,
    )
    assert out == (
        "client,available,held,total,locked\n"
        "2,1.7500,0.0000,1.7500,false\n"
        "10,1.5000,0.0000,1.5000,false\n"
    )
    assert err == "txflow replay: 3 rows read, 3 applied, 0 rejected, 0 skipped\n"


def test_crlf_padding_blank_lines_and_missing_trailing_column_are_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        " type , client ,tx, amount\r\n\r\n"
        "deposit,  1 ,  1 ,  3.0 \r\n\r\n"
        "dispute,1,1\r\n"
        "resolve, 1, 1,\r\n"
    )
    out, err = replay_text(tmp_path, text, capsys)
    assert out.splitlines()[1] == "1,3.0000,0.0000,3.0000,false"
    assert "0 skipped" in err and "line" not in err


def test_malformed_lines_are_reported_with_their_number_and_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "type,client,tx,amount\n"
        "deposit,1,1,5\n"  # line 2
        "deposit,1,2\n"  # 3: amount missing
        "teleport,1,3,1\n"  # 4: unknown type
        "deposit,1,4,abc\n"  # 5: not numeric
        "deposit,1,5,1.00001\n"  # 6: too many places
        "deposit,1,6,1,extra\n"  # 7: field count
        "deposit,1,7,-2\n"  # 8: not positive
        "withdrawal,1,8,1\n"  # 9: fine, neighbours unaffected
    )
    out, err = replay_text(tmp_path, text, capsys, status=3)  # rows were skipped
    assert out.splitlines()[1] == "1,4.0000,0.0000,4.0000,false"
    *skips, summary = err.splitlines()
    reported = [line.split(":")[1].strip() for line in skips]
    assert reported == ["line 3", "line 4", "line 5", "line 6", "line 7", "line 8"]
    assert "unknown transaction type 'teleport'" in err
    assert summary == "txflow replay: 8 rows read, 2 applied, 0 rejected, 6 skipped"


def test_allow_skipped_exits_0_with_the_same_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "in.csv"
    path.write_text("deposit,1,1,5\nteleport,1,2,1\n")
    assert main(["replay", "--engine", "memory", "--allow-skipped", str(path)]) == 0
    assert "line 2: skipped" in capsys.readouterr().err


def test_an_open_quote_skips_its_own_line_and_never_swallows_the_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = 'deposit,1,1,"5\ndeposit,1,2,3\ndeposit,1,3,"2"\nwithdrawal,1,4,"1\n'
    out, err = replay_text(tmp_path, text, capsys, status=3)
    assert out.splitlines()[1] == "1,5.0000,0.0000,5.0000,false"
    assert "line 1: skipped: a quote is not closed on its line" in err
    assert "line 4: skipped: a quote is not closed on its line" in err  # at the end of the file
    assert "4 rows read, 2 applied, 0 rejected, 2 skipped" in err


def test_a_field_over_128_kib_is_one_skipped_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = f"deposit,1,1,5\ndeposit,1,{'9' * 200_000},1\ndeposit,1,3,2\n"
    out, err = replay_text(tmp_path, text, capsys, status=3)
    assert out.splitlines()[1] == "1,7.0000,0.0000,7.0000,false"
    assert "line 2: skipped: field larger than field limit" in err


def test_a_latin_1_file_is_refused_in_one_line_before_any_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes("deposit,1,1,5\ndeposit,Jos\u00e9,2,1\n".encode("latin-1"))
    assert main(["replay", "--engine", "memory", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert "line 2 is not utf-8-sig (byte 0xe9)" in err and "--encoding latin-1" in err
    # given its encoding, it replays: the bad client id is one skipped line
    assert main(["replay", "--engine", "memory", "--encoding", "latin-1", str(path)]) == 3
    out, err = capsys.readouterr()
    assert out.splitlines()[1:] == ["1,5.0000,0.0000,5.0000,false"]
    assert "line 2: skipped" in err


def test_standard_input_that_does_not_decode_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"deposit,1,1,5\ndeposit,\xff,2,1\n"))
    monkeypatch.setattr("sys.stdin", stdin)
    assert main(["replay", "--engine", "memory", "-"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 2 is not utf-8-sig (byte 0xff)" in err


def test_a_client_named_only_by_failed_rows_still_gets_a_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = replay_text(tmp_path, "type,client,tx,amount\nwithdrawal,7,1,5\n", capsys)
    assert out.splitlines()[1:] == ["7,0.0000,0.0000,0.0000,false"]


def test_dispute_rows_get_ids_that_never_collide_with_numeric_tx_ids() -> None:
    rows = list(read_rows(["deposit,1,1,5\n", "dispute,1,1,\n", "deposit,1,2,1\n"], "tag"))
    assert all(isinstance(r, Row) for r in rows)
    ids = [r.tx.tx_id for r in rows if isinstance(r, Row)]
    assert ids == ["1", "L2.tag", "2"]


def test_replaying_the_same_file_twice_gives_the_same_ids(tmp_path: Path) -> None:
    from services.cli.csvio import source_tag

    path = tmp_path / "a.csv"
    path.write_text("dispute,1,1,\n")
    with path.open("rb") as f1, path.open("rb") as f2:
        assert source_tag(f1) == source_tag(f2)
    other = tmp_path / "b.csv"
    other.write_text("dispute,1,2,\n")
    with path.open("rb") as f1, other.open("rb") as f2:
        assert source_tag(f1) != source_tag(f2)


def test_bad_rows_are_values_not_exceptions() -> None:
    (bad,) = read_rows(["deposit,1\n"], "t")
    assert isinstance(bad, BadRow) and bad.line == 1


def test_missing_file_is_one_clear_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--engine", "memory", "/nonexistent/x.csv"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/nonexistent/x.csv" in err


def write_rows(path: Path, rows: int, distinct_ids: int, seed: int = 7) -> None:
    """``rows`` rows over 100 accounts whose tx ids repeat after ``distinct_ids``."""
    rng = random.Random(seed)
    with path.open("w") as f:
        f.write("type,client,tx,amount\n")
        for n in range(1, rows + 1):
            tx = n % distinct_ids + 1
            kind = "deposit" if rng.random() < 0.7 else "withdrawal"
            f.write(
                f"{kind},{tx % 100},{tx},{rng.randrange(1, 10**4)}.{rng.randrange(10**4):04d}\n"
            )


# VmHWM (peak resident set) belongs to this process image alone; ru_maxrss
# would include the forking parent's memory on Linux.
MEASURE = (
    "import re, sys\n"
    "from services.cli.__main__ import main\n"
    "rc = main(['replay', '--engine', 'memory', sys.argv[1]])\n"
    "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
    "sys.stderr.write(f'MAXRSS_KB {hwm}\\n')\n"
    "sys.exit(rc)\n"
)


def peak_rss_mb(path: Path) -> float:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, check=True
    )
    line = next(ln for ln in done.stderr.splitlines() if ln.startswith("MAXRSS_KB"))
    return int(line.split()[1]) / 1024


def test_a_million_rows_replay_in_memory_bounded_by_state_not_by_file(tmp_path: Path) -> None:
    # A million rows (~30 MB) over a small ledger: rows repeat 1,000 tx ids, so
    # the state stays tiny and only holding the file or its rows could grow
    # memory (rows as Python objects would take ~0.5 GB).
    small, path = tmp_path / "thousand.csv", tmp_path / "million.csv"
    write_rows(small, 1_000, distinct_ids=1_000)
    write_rows(path, 1_000_000, distinct_ids=1_000)
    assert path.stat().st_size > 25_000_000
    assert peak_rss_mb(path) - peak_rss_mb(small) < 40
