"""``lakehouse runs ...`` and ``lakehouse maintain``: tables for humans, --json for machines, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import lakehouse
from lakehouse.cli import main
from lakehouse.tracking.writer import get_writer


@pytest.fixture
def populated(root: Path) -> dict[str, str]:
    lh = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    lh.dataset("data").write(pl.DataFrame({"x": [1, 2]}))
    with lh.start_run(experiment="cli", name="alpha", params={"lr": 0.1}, inputs=["data:v0"]) as a:
        for step in range(20):
            a.log({"loss": 1.0 / (step + 1)}, step=step)
    with lh.start_run(experiment="cli", name="beta", params={"lr": 0.2}, tags={"t": "x"}) as b:
        b.log({"loss": 0.3}, step=0)
    # As if another process had written them: the CLI's connection (default settings) gets a writer of its own.
    get_writer(lh.layout, lh.settings).close()
    return {"alpha": a.id, "beta": b.id}


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_runs_list_table_and_json(root: Path, populated: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "runs", "list", "--root", str(root), "--experiment", "cli")
    assert code == 0
    assert "alpha" in out
    assert "beta" in out
    assert "FINISHED" in out
    code, out, _ = run_cli(capsys, "runs", "list", "--root", str(root), "--tag", "t=x", "--json")
    rows = json.loads(out)
    assert code == 0
    assert [r["name"] for r in rows] == ["beta"]
    assert rows[0]["params.lr"] == "0.2"


def test_runs_lineage_of_a_dataset_version(
    root: Path, populated: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "runs", "lineage", "data:v0", "--root", str(root))
    shown = [word for word in ("runs that used data:v0", "alpha", "beta") if word in out]
    assert (code, shown) == (0, ["runs that used data:v0", "alpha"])
    code, out, _ = run_cli(capsys, "runs", "lineage", "data", "--root", str(root), "--json")
    assert [r["name"] for r in json.loads(out)] == ["alpha"]
    code, _, err = run_cli(capsys, "runs", "lineage", "data:v5", "--root", str(root))
    assert code == 1
    assert err == "error: dataset 'data' has no version 5; its versions are 0..0\n"


def test_runs_show_by_name_and_prefix(
    root: Path, populated: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "runs", "show", "alpha", "--root", str(root), "--json")
    info = json.loads(out)
    assert code == 0
    assert info["id"] == populated["alpha"]
    assert info["status"] == "FINISHED"
    assert info["metrics"]["loss"]["count"] == 20
    assert info["inputs"][0]["version_ref"] == "data:v0"
    code, out, _ = run_cli(capsys, "runs", "show", populated["beta"][:6], "--root", str(root))
    assert code == 0
    assert "beta" in out
    assert "params" in out


def test_runs_compare(root: Path, populated: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "runs", "compare", "alpha", "beta", "--root", str(root), "--json")
    result = json.loads(out)
    assert code == 0
    assert result["params"] == [{"param": "lr", populated["alpha"]: "0.1", populated["beta"]: "0.2"}]
    code, out, _ = run_cli(capsys, "runs", "compare", "alpha", "beta", "--root", str(root))
    assert code == 0
    assert "params that differ" in out
    assert "dataset versions" in out


def test_runs_metrics(root: Path, populated: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "runs", "metrics", "alpha", "--root", str(root), "--key", "loss", "--json")
    points = json.loads(out)
    assert code == 0
    assert [p["step"] for p in points] == list(range(20))
    code, out, _ = run_cli(capsys, "runs", "metrics", "alpha", "--root", str(root), "--max-points", "8", "--json")
    assert code == 0
    assert 0 < len(json.loads(out)) <= 8


def test_runs_recover_and_maintain(root: Path, populated: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "runs", "recover", "--root", str(root), "--json")
    report = json.loads(out)
    assert code == 0
    assert report["segments_committed"] == 0
    assert report["errors"] == []
    code, out, _ = run_cli(capsys, "maintain", "--root", str(root), "--json")
    report = json.loads(out)
    assert code == 0
    assert report["engine"] == "embedded"
    assert {t["table"]: t["files_after"] for t in report["tables"]}["metrics"] == 2
    code, out, _ = run_cli(
        capsys, "maintain", "--root", str(root), "--table", "metrics", "--vacuum", "--retention-hours", "0"
    )
    assert code == 0
    assert "maintenance" in out


def test_delete_and_restore(root: Path, populated: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "runs", "delete", "beta", "--root", str(root))[0] == 0
    _, out, _ = run_cli(capsys, "runs", "list", "--root", str(root), "--json")
    assert [r["name"] for r in json.loads(out)] == ["alpha"]
    assert run_cli(capsys, "runs", "restore", "beta", "--root", str(root))[0] == 0
    _, out, _ = run_cli(capsys, "runs", "list", "--root", str(root), "--json")
    assert len(json.loads(out)) == 2


def test_errors_are_one_line_without_traceback(
    root: Path, populated: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "runs", "show", "gamma", "--root", str(root))
    assert code == 1
    assert "error: no run 'gamma'" in err
    assert "Traceback" not in err
    code, _, err = run_cli(capsys, "runs", "list", "--root", str(root), "--status", "DONE")
    assert code == 1
    assert "invalid status filter 'DONE'" in err
    code, _, err = run_cli(capsys, "runs", "list", "--root", str(root), "--tag", "novalue")
    assert code == 1
    assert "key=value" in err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "runs", "--help")
    assert code == 0
    for command in ("list", "lineage", "show", "compare", "metrics", "recover"):
        assert command in out
    code, out, _ = run_cli(capsys, "maintain", "--help")
    assert code == 0
    assert "--engine" in out
    assert "--vacuum" in out
