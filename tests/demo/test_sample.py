"""`lakehouse demo`: a sample lakehouse with versions, cards and tags, safe to run again."""

from __future__ import annotations

import io
import json
from pathlib import Path

import polars as pl
import pytest
from PIL import Image

import lakehouse
from lakehouse.cli import main
from lakehouse.demo import images, sample
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


def test_digits_as_a_file_dataset_raw_relabelled_augmented(tmp_path: Path) -> None:
    lh = lakehouse.connect(tmp_path / "sample")
    lines: list[str] = []
    images.build_images(lh, lines.append)
    assert len(lines) == 3
    ds = lh.dataset(images.IMAGES)
    v0, v1, v2 = (ds.version(n) for n in range(3))
    assert (v0.num_rows, v1.num_rows, v2.num_rows) == (1797, 1797, 1797 + 2 * images.AUGMENTED_IMAGES)
    assert (v0.metadata["labelled_by"], v1.metadata["labelled_by"]) == ("uci-original-annotators", "annotation-team")
    assert ds.tags() == {"prod": 1}
    # Labels are the folder names; the review round moved the mislabelled files, bytes unchanged.
    files = ds.files(0)
    assert files.select((pl.col("path").str.split("/").list.first().cast(pl.Int64) == pl.col("label")).all()).item()
    assert set(files.get_column("media_type")) == {"image/png"}
    assert set(files.get_column("width")) == set(files.get_column("height")) == {8}
    moved = ds.diff(0, 1)
    assert (moved.num_added, moved.num_removed, moved.num_changed) == (sample.MISLABELLED, sample.MISLABELLED, 0)
    assert set(moved.added.get_column("sha256")) == set(moved.removed.get_column("sha256"))
    fixed = dict(zip(moved.added.get_column("path"), moved.added.get_column("label"), strict=True))
    digits = sample.load_digits()
    truth = dict(zip(digits.get_column("id"), digits.get_column("label"), strict=True))
    assert all(truth[int(p.split("/")[1][:4])] == label for p, label in fixed.items())
    grown = ds.diff(1, 2)
    assert grown.num_added == 2 * images.AUGMENTED_IMAGES
    assert grown.num_removed == grown.num_changed == 0
    # A PNG is the digit: 8x8, the scan's pixels scaled to 0..255.
    png = Image.open(io.BytesIO(lh.open_file(f"{images.IMAGES}:v1", "0/0000.png").read()))
    assert png.size == (8, 8)
    assert list(png.tobytes()) == [min(255, v * 16) for v in digits.row(0, named=True)["pixels"]]
    flipped = Image.open(io.BytesIO(ds.read_file("0/0000-flip.png")))
    assert list(flipped.transpose(Image.Transpose.FLIP_LEFT_RIGHT).tobytes()) == list(png.tobytes())
