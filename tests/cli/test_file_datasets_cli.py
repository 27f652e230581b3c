"""`lakehouse datasets add-files | sync | download | files` end to end, with --json, progress and one-line errors."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from lakehouse.cli import _common, _files
from tests.cli.test_datasets_cli import Cli
from tests.file_trees import make_tree, png, tree_state


@pytest.fixture
def cli(root: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(root, capsys)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "photos")


def test_add_sync_files_and_download_round_trip(cli: Cli, folder: Path, tmp_path: Path) -> None:
    added = cli.json(
        "datasets", "add-files", "pets", str(folder), "--label-folders", "--labelled-by", "ann",
        "--description", "raw", "--meta", "camera=x1",
    )  # fmt: skip
    assert (added["version"], added["num_rows"], added["metadata"]["labelled_by"]) == (0, 6, "ann")
    assert added["metadata"]["camera"] == "x1"
    unchanged = cli.json("datasets", "sync", "pets", str(folder))
    assert unchanged == {"dataset": "pets", "changed": False, "version": 0}
    png(folder / "cats" / "9.png", (6, 6), (9, 9, 9))
    synced = cli.json("datasets", "sync", "pets", str(folder), "--label-folders")
    assert (synced["changed"], synced["version"], synced["num_rows"], synced["rows_added"]) == (True, 1, 7, 1)
    listing = cli.json("datasets", "files", "pets:v1")
    assert [f["path"] for f in listing][:3] == ["cats/0.png", "cats/1.png", "cats/9.png"]
    assert listing[2]["label"] == "cats"
    assert listing[2]["width"] == 6
    out, _ = cli("datasets", "files", "pets", "--limit", "2")
    assert "files of pets:v1" in out
    assert "2 of 7 files shown" in out
    assert "4×3" in out
    dest = tmp_path / "out"
    report = cli.json("datasets", "download", "pets:v0", str(dest))
    assert (report["ref"], report["written"], report["skipped"]) == ("pets:v0", 6, 0)
    assert sorted(tree_state(dest)) == sorted(p for p in tree_state(folder) if p != "cats/9.png")
    out, _ = cli("datasets", "download", "pets:v0", str(dest))
    assert "0 file(s) written (0 bytes), 6 already there" in " ".join(out.split())
    out, _ = cli("datasets", "sync", "pets", str(folder))
    assert "is unchanged: pets:v1 already holds it" in " ".join(out.split())


def test_progress_bars_draw_on_a_terminal(
    cli: Cli, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100)
    monkeypatch.setattr(_common, "err_console", terminal)
    monkeypatch.setattr(_files, "err_console", terminal)
    cli("datasets", "add-files", "pets", str(folder))
    cli("datasets", "download", "pets", str(tmp_path / "out"))
    drawn = screen.getvalue()
    assert "reading photos" in drawn
    assert "downloading pets:v0" in drawn


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add-files", "pets", "{tmp}/nope"], "folder '{tmp}/nope' does not exist"),
        (["sync", "pets", "{tmp}/photos/notes/readme.txt"], "is a file, not a folder"),
        (["add-files", "pets", "{tmp}/photos", "--labels", "{tmp}/none.csv"], "labels sidecar '{tmp}/none.csv' does"),
        (["add-files", "pets", "{tmp}/photos", "--labels", "{tmp}/bad.csv"], "'../x.png' is not a relative path"),
        (["add-files", "pets", "{tmp}/photos", "--labels", "{tmp}/bad.csv", "--label-folders"], "not both"),
        (["download", "pets", "{tmp}/photos/notes/readme.txt"], "it is a file, not a folder"),
        (["download", "pets", "{tmp}/photos"], "already holds 'cats/0.png' and 4 more with other content"),
        (["files", "pets:v7"], "dataset 'pets' has no version 7"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    cli: Cli, folder: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "bad.csv").write_text("path,label\n../x.png,cat\n", encoding="utf-8")
    cli("datasets", "add-files", "pets", str(folder))
    png(folder / "cats" / "0.png", (1, 1), (0, 0, 0))  # differs from the stored one
    (folder / "cats" / "1.png").unlink()
    for kept in ("dogs/0.png", "dogs/1.png", "sounds/beep.wav", "notes/readme.txt"):
        (folder / kept).write_bytes(b"changed")
    before = tree_state(cli.root), tree_state(folder)
    _, err = cli("datasets", *[a.replace("{tmp}", str(tmp_path)) for a in args], code=1)
    assert err.startswith("error: ")
    assert message.replace("{tmp}", str(tmp_path)) in " ".join(err.split())
    assert "Traceback" not in err
    assert (tree_state(cli.root), tree_state(folder)) == before


def test_help_lists_the_file_commands() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("lakehouse")), "datasets", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for command in ("add-files", "sync", "download", "files"):
        assert command in done.stdout
