"""``lakehouse runs list`` shows lost runs; ``lakehouse runs recover --stale`` fails them, from anywhere."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import lakehouse
from tests.cli.test_runs_cli import run_cli
from tests.tracking.conftest import tables_state


@pytest.fixture
def silent_run(root: Path, monkeypatch: pytest.MonkeyPatch) -> lakehouse.Run:
    """A run whose writer (this process, beating once a minute) is silent longer than the CLI tolerates."""
    writer = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    run = writer.start_run(experiment="cli", name="quiet")
    run.flush()
    monkeypatch.setenv("LAKEHOUSE_HEARTBEAT_INTERVAL", "0.2s")
    monkeypatch.setenv("LAKEHOUSE_LOST_AFTER", "0.5s")
    time.sleep(1.2)  # silent for longer than both lost_after and the --stale 1s the test recovers with
    return run


def test_list_shows_a_lost_run_and_recover_stale_fails_it_once(
    root: Path,
    tmp_path: Path,
    silent_run: lakehouse.Run,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, _ = run_cli(capsys, "runs", "list", "--root", str(root))
    assert code == 0
    assert "RUNNING (lost)" in out
    assert "lost: no sign of life" in out
    code, out, _ = run_cli(capsys, "runs", "list", "--root", str(root), "--json")
    (row,) = json.loads(out)
    assert (row["status"], row["lost"]) == ("RUNNING", True)

    # On this machine the run's writer still holds its spool: alive, however quiet, so left alone.
    code, out, _ = run_cli(capsys, "runs", "recover", "--root", str(root), "--stale", "1s", "--json")
    assert code == 0
    assert json.loads(out)["stale_runs_failed"] == []

    monkeypatch.setenv("LAKEHOUSE_SPOOL_DIR", str(tmp_path / "another-machine"))  # where nothing is known
    code, out, _ = run_cli(capsys, "runs", "recover", "--root", str(root), "--stale", "1s")
    assert code == 0
    assert f"runs silent for longer than 1s, now FAILED: {silent_run.id}" in out
    code, out, _ = run_cli(capsys, "runs", "recover", "--root", str(root), "--stale", "1s", "--json")
    assert json.loads(out)["stale_runs_failed"] == []
    code, out, _ = run_cli(capsys, "runs", "show", silent_run.id, "--root", str(root), "--json")
    shown = json.loads(out)
    assert (shown["status"], shown["lost"]) == ("FAILED", False)
    assert "no sign of life" in shown["tags"]["lakehouse.error"]


@pytest.mark.parametrize(
    ("stale", "message"),
    [
        ("10x", "error: stale: '10x' is not a duration; write a number and a unit"),
        ("0.1s", "error: stale '0.1s' is shorter than two heartbeat intervals"),
    ],
)
def test_a_bad_stale_duration_is_a_one_line_error_and_changes_nothing(
    root: Path, silent_run: lakehouse.Run, capsys: pytest.CaptureFixture[str], stale: str, message: str
) -> None:
    lh = lakehouse.connect(root)
    before = tables_state(lh)
    code, out, err = run_cli(capsys, "runs", "recover", "--root", str(root), "--stale", stale)
    assert code == 1
    assert err.startswith(message)
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert tables_state(lh) == before
