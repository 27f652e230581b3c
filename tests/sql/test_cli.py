"""``lakehouse sql``: a rich table, --json, --out files, one-line refusals that change nothing, and the
interactive prompt driven through a real terminal (history and Tab completion)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from lakehouse.cli import main
from lakehouse.cli.sql import Completion
from tests.sql.conftest import Demo, snapshot

QUERY = "SELECT name, CAST(params.lr AS DOUBLE) AS lr FROM runs WHERE experiment = 'digits-mlp' ORDER BY name"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_table_and_json(demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--root", str(demo.root), "sql", QUERY)
    assert code == 0
    assert "mlp-broken" in out
    assert "mlp-wide" in out
    code, out, _ = run_cli(capsys, "--root", str(demo.root), "sql", QUERY, "--json")
    assert code == 0
    assert json.loads(out) == demo.lh.sql(QUERY).to_dicts()


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_out_writes_the_whole_result(
    demo: Demo, tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    out = tmp_path / "sub" / f"result{suffix}"
    query = 'SELECT * FROM "digits:v0..v2"'
    code, printed, _ = run_cli(capsys, "--root", str(demo.root), "sql", query, "--out", str(out))
    assert code == 0
    assert "wrote 6 rows" in printed
    written = pl.read_parquet(out) if suffix == ".parquet" else pl.read_csv(out)
    assert_frame_equal(written, demo.lh.sql(query), check_dtypes=suffix == ".parquet")


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["DROP TABLE runs"], "error: only queries run here: DROP statements are refused"),
        (["SELECT * FROM read_csv('/etc/passwd')"], r"error: function read_csv\(\) is refused"),
        (["SELECT * FROM rusn"], "error: unknown table 'rusn'"),
        (["SELECT * FROM runs", "--out", "x.txt"], "error: cannot write 'x.txt': use a file ending in"),
    ],
)
def test_errors_are_one_line_and_change_nothing(
    demo: Demo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    match: str,
) -> None:
    before = snapshot(demo.root)
    monkeypatch.chdir(tmp_path)  # a relative --out lands here (and the next tests run where they started)
    code, out, err = run_cli(capsys, "--root", str(demo.root), "sql", *args)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert re.search(match, err), err
    assert "Traceback" not in err
    assert snapshot(demo.root) == before
    assert list(tmp_path.iterdir()) == []


def test_completion_offers_names_refs_and_columns_of_named_tables() -> None:
    asked: list[str] = []

    def columns(name: str) -> list[str]:
        asked.append(name)
        return {"runs": ["run_id", "name", "params"], "digits": ["image_id", "label"]}[name]

    completion = Completion(lambda: ["runs", "metrics", "metric_summaries", "digits"], columns)
    assert completion.candidates("SELECT * FROM ru", "ru") == ["runs"]
    assert completion.candidates("SELECT * FROM met", "met") == ["metric_summaries", "metrics"]
    assert completion.candidates('SELECT * FROM "di', '"di') == ['"digits']
    assert completion.candidates("SELECT na FROM runs", "na") == ["name"]
    assert completion.candidates("SELECT im FROM digits JOIN runs", "im") == ["image_id"]
    assert completion.candidates("sel", "sel") == ["SELECT"]
    assert asked == ["runs", "digits"]  # columns only of the names typed, each read once


def _read_until(fd: int, wanted: bytes, timeout: float = 60) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{wanted!r} never came; got {seen.decode(errors='replace')!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
    return seen


def test_the_prompt_in_a_terminal_completes_runs_queries_and_keeps_history(demo: Demo, tmp_path: Path) -> None:
    main_fd, child_fd = pty.openpty()
    env = {**os.environ, "HOME": str(tmp_path), "COLUMNS": "200", "TERM": "xterm"}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "lakehouse"), "--root", str(demo.root), "sql"],
        stdin=child_fd,
        stdout=child_fd,
        stderr=child_fd,
        env=env,
        close_fds=True,
    )
    os.close(child_fd)
    try:
        _read_until(main_fd, b"lakehouse> ")
        # "ru" + Tab completes to "runs"; the query spans two lines and ends with ';'.
        os.write(main_fd, b"SELECT COUNT(*) AS how_many\r")
        _read_until(main_fd, b"...> ")
        os.write(main_fd, b"FROM ru\t")
        _read_until(main_fd, b"runs")
        os.write(main_fd, b";\r")
        out = _read_until(main_fd, b"lakehouse> ")
        assert b"how_many" in out
        assert b"7" in out
        os.write(main_fd, b"SELECT * FROM rusn;\r")
        out = _read_until(main_fd, b"lakehouse> ")
        assert b"did you mean 'runs'" in out
        os.write(main_fd, b"\\q\r")
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main_fd)
    history = (tmp_path / ".cache" / "lakehouse" / "sql_history").read_text()
    assert "FROM runs ;" in history or "FROM runs;" in history
