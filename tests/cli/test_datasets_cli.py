"""`lakehouse datasets ...` end to end: human output, --json, files in and out, and one-line errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from rich.console import Console
from rich.progress import Progress

from lakehouse.cli import main
from lakehouse.cli._files import open_batches

COMMANDS = ["list", "write", "read", "history", "show", "tag", "untag", "tags", "diff", "vacuum"]


class Cli:
    """Runs the real entry point in-process with a root, capturing stdout and stderr."""

    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.root, self.capsys = root, capsys

    def __call__(self, *args: str, code: int = 0) -> tuple[str, str]:
        self.capsys.readouterr()
        got = main(["--root", str(self.root), *args])
        out, err = self.capsys.readouterr()
        assert got == code, (args, out, err)
        return out, err

    def json(self, *args: str) -> Any:
        out, _ = self(*args, "--json")
        return json.loads(out)

    def fails(self, *args: str) -> str:
        out, err = self(*args, code=1)
        assert out == ""
        assert err.startswith("error: ")
        assert "Traceback" not in err
        assert err.count("\n") == 1, err  # one message, one line
        return err


@pytest.fixture
def cli(root: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(root, capsys)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    paths = {
        "parquet": folder / "v0.parquet",
        "csv": folder / "v1.csv",
        "ndjson": folder / "v2.ndjson",
        "ipc": folder / "v3.arrow",
    }
    pl.DataFrame({"id": [1, 2, 3], "label": ["a", "b", "c"]}).write_parquet(paths["parquet"])
    pl.DataFrame({"id": [2, 4], "label": ["B", "d"]}).write_csv(paths["csv"])
    pl.DataFrame({"id": [5], "label": ["e"]}).write_ndjson(paths["ndjson"])
    pl.DataFrame({"id": [6], "label": ["f"]}).write_ipc(paths["ipc"])
    return paths


def test_help_for_every_command(cli: Cli) -> None:
    out, _ = cli("--help")
    assert "datasets" in out
    out, _ = cli("datasets", "--help")
    for command in COMMANDS:
        assert command in out
    for command in COMMANDS:
        out, _ = cli("datasets", command, "--help")
        assert "Usage" in out
        assert "--json" in out


def test_full_workflow(cli: Cli, files: dict[str, Path], tmp_path: Path) -> None:
    out, _ = cli("datasets", "list")
    assert "No datasets yet" in out
    assert cli.json("datasets", "list") == []

    out, _ = cli(
        "datasets",
        "write",
        "digits",
        str(files["parquet"]),
        "--created-by",
        "data-eng",
        "--labelled-by",
        "annotators",
        "--description",
        "raw scan",
        "--meta",
        "source=scanner-7",
        "--meta",
        "quality=0.9",
    )
    assert "wrote digits:v0: append, +3 -0 rows, 3 in total" in out
    v1 = cli.json("datasets", "write", "digits", str(files["csv"]), "--mode", "upsert", "--key", "id")
    assert (v1["ref"], v1["operation"], v1["rows_added"], v1["rows_updated"], v1["num_rows"]) == (
        "digits:v1",
        "upsert",
        1,
        1,
        4,
    )
    out, _ = cli("datasets", "write", "digits", str(files["ndjson"]))
    assert "digits:v2" in out
    out, _ = cli("datasets", "write", "digits", str(files["ipc"]))
    assert "digits:v3" in out

    listed = cli.json("datasets", "list")
    assert [(d["name"], d["latest_version"], d["num_rows"], d["description"]) for d in listed] == [
        ("digits", 3, 6, "raw scan")
    ]
    out, _ = cli("datasets", "list")
    assert "digits" in out
    assert "v3" in out

    history = cli.json("datasets", "history", "digits")
    assert [h["version"] for h in history] == [3, 2, 1, 0]
    first = history[-1]
    assert first["metadata"] == {
        "created_by": "data-eng",
        "created_on": first["metadata"]["created_on"],
        "description": "raw scan",
        "labelled_by": "annotators",
        "number_of_samples": 3,
        "quality": 0.9,
        "source": "scanner-7",
    }
    out, _ = cli("datasets", "history", "digits", "--limit", "2")
    assert "upsert" not in out  # v1 is beyond the limit
    assert "append" in out

    shown = cli.json("datasets", "show", "digits:v0")
    assert shown["ref"] == "digits:v0"
    assert shown["schema"] == [
        {"name": "id", "type": "int64", "nullable": True},
        {"name": "label", "type": "string", "nullable": True},
    ]
    assert sorted(r["id"] for r in shown["preview"]) == [1, 2, 3]
    out, _ = cli("datasets", "show", "digits:v0", "--rows", "2")
    assert "scanner-7" in out
    assert "2 of 3 rows shown" in " ".join(out.split())

    out, _ = cli("datasets", "tag", "digits", "prod", "--version", "1")
    assert "digits:prod → v1" in out
    err = cli.fails("datasets", "tag", "digits", "prod", "--version", "2")
    assert "already points at version 1; pass force=True (--force)" in err
    moved = cli.json("datasets", "tag", "digits", "prod", "--version", "2", "--force")
    assert (moved["event"], moved["previous_version"], moved["version"]) == ("moved", 1, 2)
    tags = cli.json("datasets", "tags", "digits")
    assert tags["tags"] == {"prod": 2}
    assert [(e["event"], e["previous_version"], e["version"]) for e in tags["history"]] == [
        ("set", None, 1),
        ("moved", 1, 2),
    ]
    out, _ = cli("datasets", "tags", "digits")
    assert "moved" in out

    diff = cli.json("datasets", "diff", "digits", "0", "prod", "--key", "id")
    assert (diff["from_version"], diff["to_version"], diff["added"], diff["removed"], diff["changed"]) == (
        0,
        2,
        2,
        0,
        1,
    )
    assert diff["changed_rows"] == [{"id": 2, "changed_columns": ["label"], "label": "B", "label_before": "b"}]
    out, _ = cli("datasets", "diff", "digits", "v0", "latest")
    assert "digits v0 → v3" in out
    assert "+4 added, -1 removed, ~0 changed" in out  # whole rows: the relabelled row is out and in

    out_parquet, out_csv = tmp_path / "out" / "prod.parquet", tmp_path / "out" / "v0.csv"
    result = cli.json("datasets", "read", "digits:prod", "--out", str(out_parquet))
    assert result == {"ref": "digits:v2", "rows": 5, "out": str(out_parquet)}
    assert sorted(pl.read_parquet(out_parquet).get_column("id").to_list()) == [1, 2, 3, 4, 5]
    out, _ = cli("datasets", "read", "digits:v0", "--out", str(out_csv))
    assert f"wrote 3 rows of digits:v0 to {out_csv}" in out.replace("\n", "")
    assert sorted(pl.read_csv(out_csv).rows()) == [(1, "a"), (2, "b"), (3, "c")]

    cli("datasets", "untag", "digits", "prod")
    assert cli.json("datasets", "tags", "digits")["tags"] == {}


def test_vacuum(cli: Cli, files: dict[str, Path]) -> None:
    cli("datasets", "write", "d", str(files["parquet"]))
    cli("datasets", "write", "d", str(files["csv"]), "--mode", "overwrite")
    cli("datasets", "write", "d", str(files["ndjson"]), "--mode", "overwrite")
    cli("datasets", "tag", "d", "prod", "--version", "0")
    dry = cli.json("datasets", "vacuum", "d", "--retention-hours", "0", "--dry-run")
    assert dry["dry_run"] is True
    assert len(dry["files"]) == 1  # v1's file; v0 is tagged
    assert dry["pinned_versions"] == {"0": ["tag:prod"]}
    out, _ = cli("datasets", "vacuum", "d", "--retention-hours", "0")
    assert "deleted 1 file(s) from d; pinned versions kept: v0 (tag:prod)" in " ".join(out.split())
    assert cli.json("datasets", "vacuum", "d", "--retention-hours", "0")["files"] == []
    out, _ = cli("datasets", "vacuum", "d")
    assert "deleted 0 file(s)" in out


def test_write_options(cli: Cli, tmp_path: Path) -> None:
    base = tmp_path / "base.parquet"
    pl.DataFrame({"id": [1], "split": ["train"]}).write_parquet(base)
    wider = tmp_path / "wider.parquet"
    pl.DataFrame({"id": [2], "split": ["test"], "weight": [0.5]}).write_parquet(wider)
    cli("datasets", "write", "p", str(base), "--partition-by", "split")
    err = cli.fails("datasets", "write", "p", str(wider))
    assert "unexpected columns 'weight' (double)" in err
    v = cli.json("datasets", "write", "p", str(wider), "--schema-mode", "merge")
    assert v["schema_changes"] == [{"column": "weight", "change": "added", "before": None, "after": "double"}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["datasets", "history", "nope"], "dataset 'nope' does not exist"),
        (["datasets", "show", "Digits:v1"], "invalid reference 'Digits:v1'"),
        (["datasets", "show", "d:v9"], "dataset 'd' has no version 9; its versions are 0..0"),
        (["datasets", "read", "d:prd", "--out", "x.parquet"], "dataset 'd' has no tag 'prd'"),
        (["datasets", "read", "d", "--out", "x.xlsx"], "use a file ending in .parquet, .csv"),
        (["datasets", "write", "d", "missing.parquet"], "input file 'missing.parquet' does not exist"),
        (["datasets", "write", "d", "data.txt"], "cannot tell the format of"),
        (["datasets", "write", "d", "IN", "--meta", "novalue"], "--meta expects key=value, got 'novalue'"),
        (["datasets", "write", "d", "IN", "--mode", "replace"], "mode must be one of append, overwrite, upsert"),
        (["datasets", "write", "d", "IN", "--mode", "upsert"], "needs key="),
        (["datasets", "write", "d", "BAD", "--mode", "overwrite"], "cannot read"),
        (["datasets", "tag", "d", "latest"], "reserved by the ref grammar"),
        (["datasets", "untag", "d", "prod"], "has no tag 'prod'"),
        (["datasets", "diff", "d", "0", "0", "--key", "nope"], "key column 'nope'"),
        (["datasets", "vacuum", "d", "--retention-hours", "-1"], "non-negative"),
    ],
)
def test_errors_are_one_line_and_change_nothing(
    cli: Cli, files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.txt").write_text("id\n1\n")
    (tmp_path / "bad.csv").write_text("id,label\n" + "1,a\n" * 5000 + "x,y,z\n")
    cli("datasets", "write", "d", str(files["parquet"]))
    args = [{"IN": str(files["csv"]), "BAD": str(tmp_path / "bad.csv")}.get(a, a) for a in args]
    err = cli.fails(*args)
    assert message in err
    history = cli.json("datasets", "history", "d")
    assert [h["version"] for h in history] == [0]
    assert not (tmp_path / "x.parquet").exists()


def test_root_from_option_global_option_and_environment(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert main(["--root", str(a), "datasets", "write", "one", str(files["parquet"])]) == 0
    assert main(["datasets", "write", "two", str(files["parquet"]), "--root", str(b)]) == 0
    monkeypatch.setenv("LAKEHOUSE_ROOT", str(c))
    assert main(["datasets", "write", "three", str(files["parquet"])]) == 0
    capsys.readouterr()
    for root, name in ((a, "one"), (b, "two"), (c, "three")):
        assert main(["datasets", "list", "--json", "--root", str(root)]) == 0
        assert [d["name"] for d in json.loads(capsys.readouterr().out)] == [name]


@pytest.mark.parametrize("kind", ["parquet", "csv", "ndjson", "ipc"])
def test_files_stream_with_progress(files: dict[str, Path], kind: str) -> None:
    progress = Progress(console=Console(file=io.StringIO()))
    with open_batches(files[kind], progress) as reader:
        assert isinstance(reader, pa.RecordBatchReader)
        (task,) = progress.tasks
        assert task.completed == 0  # nothing read until the writer pulls batches
        table = reader.read_all()
    assert table.num_rows == {"parquet": 3, "csv": 2, "ndjson": 1, "ipc": 1}[kind]
    assert task.completed == task.total
    assert task.total == (table.num_rows if kind in ("parquet", "ipc") else files[kind].stat().st_size)


def test_console_script_errors_without_traceback(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("lakehouse")
    done = subprocess.run(
        [str(script), "--root", str(tmp_path), "datasets", "show", "nope:v1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip() == f"error: dataset 'nope' does not exist under {str(tmp_path)!r}"
