"""``lakehouse ingest`` and ``lakehouse maintain``: JSON and human output, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from pyspark.sql import SparkSession

import lakehouse
from lakehouse.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.spark
def test_ingest_then_maintain_from_the_command_line(
    lh: lakehouse.Lakehouse, spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "a.csv"
    data.write_text("id,label\n1,a\n2,b\n3\n", encoding="utf-8")
    root = str(lh.root)
    code, out, _ = run(capsys, "ingest", "cli", str(data), "--root", root, "--meta", "source=crm", "--json")
    assert code == 0
    result = json.loads(out)
    assert (result["rows_written"], result["rows_quarantined"], result["version"]["ref"]) == (2, 1, "cli:v0")
    assert result["top_reasons"][0]["reason"] == "has 1 fields, expected 2 (id, label)"
    assert lh.dataset("cli").version().metadata["source"] == "crm"

    code, out, _ = run(capsys, "ingest", "cli", str(data), "--root", root, "--job-id", "j1")
    assert code == 0
    assert "ingested 1 csv file(s) into cli:v1: 2 rows written, 1 quarantined" in " ".join(out.split())
    assert "has 1 fields, expected 2" in out

    code, out, _ = run(capsys, "maintain", "--engine", "spark", "--root", root, "--dataset", "cli", "--json")
    assert code == 0
    (table,) = json.loads(out)["tables"]
    assert (table["table"], table["files_after"], table["checkpointed"]) == ("datasets/cli", 1, True)
    code, out, _ = run(capsys, "maintain", "--root", root)
    assert code == 0
    assert "maintenance (embedded)" in out


def test_errors_are_one_line_and_change_nothing(
    lh: lakehouse.Lakehouse, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lh.dataset("cli").write(pl.DataFrame({"id": [1]}))
    root = str(lh.root)
    code, out, err = run(capsys, "ingest", "cli", str(tmp_path / "nope.csv"), "--root", root)
    assert (code, out) == (1, "")
    assert err.strip().startswith("error: input path ")
    assert "Traceback" not in err
    code, _, err = run(capsys, "maintain", "--engine", "hadoop", "--root", root)
    assert code == 1
    assert "unknown maintenance engine 'hadoop'; choose from embedded, spark" in err
    code, _, err = run(capsys, "maintain", "--root", root, "--retention-hours", "-1")
    assert code == 1
    assert "retention_hours must be a non-negative integer" in err
    assert lh.dataset("cli").latest_version == 0
