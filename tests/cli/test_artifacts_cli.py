"""``lakehouse runs artifacts`` and ``lakehouse artifacts get``: tables, --json, verified downloads, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lakehouse
from lakehouse.cli import main
from lakehouse.objects import object_key
from tests.test_objects import flip_byte


@pytest.fixture
def logged(root: Path, tmp_path: Path) -> str:
    lh = lakehouse.connect(root)
    (tmp_path / "src" / "plots").mkdir(parents=True)
    (tmp_path / "src" / "model.bin").write_bytes(b"weights" * 300)
    (tmp_path / "src" / "plots" / "loss.png").write_bytes(b"png")
    with lh.start_run(experiment="cli", name="alpha") as run:
        run.log_artifacts(tmp_path / "src")
    return run.id


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_runs_artifacts_table_and_json(root: Path, logged: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "runs", "artifacts", "alpha", "--root", str(root))
    assert code == 0
    assert "model.bin" in out
    assert "plots/loss.png" in out
    assert "2.1 KiB" in out
    code, out, _ = run_cli(capsys, "runs", "artifacts", logged[:8], "--root", str(root), "--json")
    listed = json.loads(out)
    assert code == 0
    assert listed["run_id"] == logged
    assert [a["path"] for a in listed["artifacts"]] == ["model.bin", "plots/loss.png"]
    assert listed["artifacts"][0]["size"] == 2100


def test_artifacts_get_to_a_file_and_into_a_folder(
    root: Path, logged: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "fetched" / "m.bin"
    code, out, _ = run_cli(capsys, "artifacts", "get", "alpha", "model.bin", "--out", str(dest), "--root", str(root))
    assert code == 0
    assert dest.read_bytes() == b"weights" * 300
    assert str(dest) in out
    folder = tmp_path / "here"
    folder.mkdir()
    code, out, _ = run_cli(
        capsys, "artifacts", "get", logged, "plots/loss.png", "-o", str(folder), "--root", str(root), "--json"
    )
    assert code == 0
    assert json.loads(out)["written"] == str(folder / "loss.png")
    assert (folder / "loss.png").read_bytes() == b"png"


def test_artifacts_errors_are_one_line_and_write_nothing(
    root: Path, logged: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "out.bin"
    cases = [
        (["artifacts", "get", "alpha", "model.bn", "--out", str(out_file)], "did you mean 'model.bin'"),
        (["artifacts", "get", "alpha", "../etc/passwd", "--out", str(out_file)], "leaves the run"),
        (["artifacts", "get", "nobody", "model.bin", "--out", str(out_file)], "no run 'nobody'"),
        (["artifacts", "get", "alpha", "model.bin", "--out", str(out_file / "x" / "y")], None),
        (["runs", "artifacts", "nobody"], "no run 'nobody'"),
    ]
    out_file.write_bytes(b"a file, so nothing can be written below it")
    for args, message in cases:
        code, _, err = run_cli(capsys, *args, "--root", str(root))
        assert code == 1, args
        assert "Traceback" not in err
        assert len(err.strip().splitlines()) <= 2  # one message (rich may wrap it)
        assert message is None or message in " ".join(err.split()), err
    assert out_file.read_bytes() == b"a file, so nothing can be written below it"


def test_a_corrupt_object_is_refused_and_the_destination_untouched(
    root: Path, logged: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lh = lakehouse.connect(root)
    digest = lh.artifact(logged, "model.bin").digest
    flip_byte(root / object_key(digest))
    dest = tmp_path / "m.bin"
    code, _, err = run_cli(capsys, "artifacts", "get", "alpha", "model.bin", "--out", str(dest), "--root", str(root))
    assert code == 1
    assert "corrupt" in err
    assert "model.bin" in err
    assert not dest.exists()
    assert list(tmp_path.glob(".m.bin*")) == []
