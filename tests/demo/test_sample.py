"""`lakehouse demo`: a sample lakehouse with versions, cards and tags, safe to run again."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import lakehouse
from lakehouse.cli import main
from lakehouse.demo import sample
from lakehouse.errors import InvalidArgument


@pytest.fixture(autouse=True)
def _datasets_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests build the sample many times: leave out its Keras training runs (tests/app covers those)."""
    monkeypatch.setattr(sample, "STEPS", (sample.build_digits,))


def test_build_skip_and_rebuild(tmp_path: Path) -> None:
    root = tmp_path / "sample"
    lines: list[str] = []
    first = sample.build(root, report=lines.append)
    assert first.built
    assert first.datasets == {"digits-test": 0, "digits-train": 2}
    assert first.tags == {"digits-test": {"prod": 0}, "digits-train": {"candidate": 2, "prod": 1}}
    assert any("review round" in line for line in lines)

    lh = lakehouse.connect(root)
    train = lh.dataset("digits-train")
    v0, v1, v2 = (train.version(n) for n in range(3))
    assert (v0.num_rows, v1.num_rows, v2.num_rows) == (1500, 1500, 1800)
    assert (v0.created_by, v1.created_by, v2.created_by) == ("data-eng", "alice", "ml-eng")
    assert v0.metadata["labelled_by"] == "uci-original-annotators"
    assert v1.metadata["labelled_by"] == "annotation-team"
    assert v0.metadata["source"] == "sklearn.datasets.load_digits"
    assert [c.column for c in v2.schema_changes] == ["augmentation"]
    assert (v1.operation, v1.rows_updated) == ("upsert", sample.MISLABELLED)
    relabelled = train.diff(0, "prod", key="id")
    assert relabelled.method == "cdf"
    assert (relabelled.num_added, relabelled.num_removed, relabelled.num_changed) == (0, 0, sample.MISLABELLED)
    assert set(relabelled.changed.get_column("changed_columns").list.join(",")) == {"label"}
    digits = lh.read("digits-test:prod")
    assert digits.height == sample.TEST_SIZE
    assert digits.schema["pixels"] == pl.List(pl.Int16)
    assert set(digits.get_column("pixels").list.len()) == {64}
    assert set(digits.get_column("label")) == set(range(10))

    again = sample.build(root)
    assert not again.built
    assert again.datasets == first.datasets
    assert train.latest_version == 2

    rebuilt = sample.build(root, rebuild=True)
    assert rebuilt.built
    assert rebuilt.datasets == first.datasets
    assert len(lakehouse.connect(root).dataset("digits-train").tag_history()) == 2  # a fresh start


def test_interrupted_build_is_redone_and_foreign_roots_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "sample"
    root.mkdir()
    (root / sample.MARKER).write_text(json.dumps({"status": "building"}))
    (root / "datasets").mkdir()  # half-written leftovers
    assert sample.build(root).built

    mine = tmp_path / "mine"
    lakehouse.connect(mine).dataset("precious").write(pl.DataFrame({"x": [1]}))
    with pytest.raises(InvalidArgument, match="already holds data the demo did not create"):
        sample.build(mine, rebuild=True)
    assert [d.name for d in lakehouse.connect(mine).datasets()] == ["precious"]


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--root", "sample", "demo"]) == 0
    captured = capsys.readouterr()
    assert "Built the sample lakehouse" in captured.out
    assert "lakehouse --root sample datasets list" in captured.out
    assert "lakehouse --root sample datasets diff digits-train v0 prod --key id" in captured.out
    assert "digits-train v1" in captured.err  # progress lines go to stderr
    assert main(["demo", "--root", "sample", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["built"] is False
    assert result["datasets"] == {"digits-test": 0, "digits-train": 2}
    assert "lakehouse --root sample datasets history digits-train" in result["next"]
    assert main(["--root", "sample", "demo"]) == 0
    assert "already complete; skipped" in " ".join(capsys.readouterr().out.split())
    # The default root comes from the settings (conf/lakehouse.toml: ./lakehouse-data), and so do the hints.
    assert main(["demo", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["root"] == str(tmp_path / "lakehouse-data")
    assert "lakehouse datasets list" in result["next"]
