"""A sample lakehouse to explore: real data in several versions, with dataset cards and tags.

``build(root)`` writes the handwritten digits that ship with scikit-learn (no download) as two datasets:

* ``digits-train`` — v0 the raw scans as first labelled (with some labelling mistakes), v1 a review round
  that relabels them, v2 augmented with shifted copies (a new ``augmentation`` column); ``prod`` → v1,
  ``candidate`` → v2.
* ``digits-test`` — the held-out scans, ``prod`` → v0.
* ``digits-images`` — all of them as PNG files in a folder per label, a file dataset (raw, relabelled,
  augmented; see :mod:`lakehouse.demo.images`).

It runs on the embedded default (a local folder, delta-rs, no JVM). Running it again skips a complete sample
(or rebuilds it with ``rebuild=True``); a half-built one (interrupted) is rebuilt. It never deletes a root it
did not create. New steps (training runs, ...) go in :data:`STEPS`; each gets the open lakehouse and a
function to report progress with.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

import lakehouse
from lakehouse._optional import import_optional
from lakehouse.errors import InvalidArgument

MARKER = ".lakehouse-demo"  # in the root: {"status": "building" | "complete"}
TRAIN, TEST = "digits-train", "digits-test"
TEST_SIZE = 297  # digits held out, the last ones of the file (1500 stay for training)
MISLABELLED = 36  # labelling mistakes in the raw training data, fixed by the review round
AUGMENTED = 300  # training digits copied one pixel to the right in v2

Report = Callable[[str], None]


@dataclass(frozen=True)
class DemoResult:
    """What :func:`build` did: ``built`` is False when a complete sample was already there."""

    root: Path
    built: bool
    datasets: dict[str, int] = field(default_factory=dict)  # name -> latest version
    tags: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {"root": str(self.root), "built": self.built, "datasets": self.datasets, "tags": self.tags}


def load_digits() -> pl.DataFrame:
    """scikit-learn's bundled digits as ``id``, ``pixels`` (64 values 0..16, row by row) and ``label``.

    The CSV that ``sklearn.datasets.load_digits`` reads is read directly: importing scikit-learn takes
    seconds, the file milliseconds. If the file is not where it used to be, ``load_digits`` is called.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        import_optional("sklearn", extra="demo", purpose="the sample datasets")  # raises NotInstalled
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    data_file = Path(folders[0] if folders else ".") / "datasets" / "data" / "digits.csv.gz"
    if data_file.is_file():
        raw = pl.read_csv(data_file.read_bytes(), has_header=False)
        values = raw.to_numpy()
    else:  # pragma: no cover - depends on scikit-learn's layout
        datasets = import_optional("sklearn.datasets", extra="demo", purpose="the sample datasets")
        bunch = datasets.load_digits()
        import numpy as np

        values = np.column_stack([bunch.data, bunch.target])
    return pl.DataFrame(
        {
            "id": list(range(len(values))),
            "pixels": [[int(v) for v in row[:64]] for row in values],
            "label": [int(row[64]) for row in values],
        },
        schema={"id": pl.Int64, "pixels": pl.List(pl.Int16), "label": pl.Int64},
    )


def _shift_right(pixels: list[int]) -> list[int]:
    """The 8x8 image moved one pixel to the right (the left column becomes blank)."""
    return [0 if col == 0 else pixels[row * 8 + col - 1] for row in range(8) for col in range(8)]


def mislabelled(digits: pl.DataFrame) -> pl.DataFrame:
    """The raw data's deterministic "labelling mistakes": ``id`` and the wrong ``label`` they were first given
    (every 41st training digit got the next digit's label)."""
    wrong = digits.head(digits.height - TEST_SIZE).filter(pl.col("id") % 41 == 7).head(MISLABELLED)
    return wrong.select("id", ((pl.col("label") + 1) % 10).alias("label"))


def build_digits(lh: lakehouse.Lakehouse, report: Report) -> None:
    """``digits-train`` in three versions and ``digits-test`` in one, with cards and tags."""
    digits = load_digits()
    train, test = digits.head(digits.height - TEST_SIZE), digits.tail(TEST_SIZE)
    wrong = mislabelled(digits)
    raw = train.update(wrong, on="id")

    ds = lh.dataset(TRAIN)
    report(f"{TRAIN} v0: {raw.height} raw scans as first labelled")
    ds.write(
        raw,
        created_by="data-eng",
        labelled_by="uci-original-annotators",
        description="Raw 8x8 handwritten digit scans (UCI optdigits, bundled with scikit-learn)",
        metadata={
            "source": "sklearn.datasets.load_digits",
            "image_shape": [8, 8],
            "pixel_range": [0, 16],
            "license": "CC BY 4.0",
        },
    )
    report(f"{TRAIN} v1: review round relabels {wrong.height} digits")
    ds.write(
        train.join(wrong.select("id"), on="id", how="semi"),
        mode="upsert",
        key="id",
        created_by="alice",
        labelled_by="annotation-team",
        description=f"Review round 1: {wrong.height} mislabelled digits corrected",
        metadata={"review_round": 1, "relabelled": wrong.height, "reviewers": ["alice", "bo"]},
    )
    shifted = train.head(AUGMENTED).with_columns(
        (pl.col("id") + digits.height).alias("id"),
        pl.col("pixels").map_elements(_shift_right, return_dtype=pl.List(pl.Int16)),
        pl.lit("shift-right-1px").alias("augmentation"),
    )
    report(f"{TRAIN} v2: {shifted.height} augmented copies, new column 'augmentation'")
    ds.write(
        shifted,
        schema_mode="merge",
        created_by="ml-eng",
        description=f"Augmented: {shifted.height} digits shifted one pixel right",
        metadata={"augmentation": "shift-right-1px", "augmented_from": f"{TRAIN}:v1"},
    )
    ds.tag("prod", version=1)
    ds.tag("candidate", version=2)

    report(f"{TEST}: {test.height} held-out scans")
    held_out = lh.dataset(TEST)
    held_out.write(
        test,
        created_by="data-eng",
        labelled_by="uci-original-annotators",
        description="Held-out digits for evaluation",
        metadata={"source": "sklearn.datasets.load_digits", "split": "last 297 digits"},
    )
    held_out.tag("prod", version=0)


def train_runs(lh: lakehouse.Lakehouse, report: Report) -> None:
    """Short Keras fits on those versions, logged as runs (see :mod:`lakehouse.demo.training`)."""
    from lakehouse.demo import training

    training.train_runs(lh, report)


def build_images(lh: lakehouse.Lakehouse, report: Report) -> None:
    """``digits-images``, the digits as a file dataset (see :mod:`lakehouse.demo.images`)."""
    from lakehouse.demo import images

    images.build_images(lh, report)


# The images first: the Datasets page opens on the most recently changed of the richest datasets, digits-train.
STEPS: tuple[Callable[[lakehouse.Lakehouse, Report], None], ...] = (build_images, build_digits, train_runs)


def _status(root: Path) -> str | None:
    try:
        return str(json.loads((root / MARKER).read_text(encoding="utf-8"))["status"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _mark(root: Path, status: str) -> None:
    (root / MARKER).write_text(json.dumps({"status": status}) + "\n", encoding="utf-8")


def build(root: str | Path | None = None, *, rebuild: bool = False, report: Report | None = None) -> DemoResult:
    """Build the sample lakehouse at ``root`` (default: the configured root) unless it is already there.

    Raises:
        InvalidArgument: ``root`` holds data the demo did not create.
    """
    say = report or (lambda _: None)
    lh = lakehouse.connect(root)
    folder = lh.root.local_folder("the demo")
    status = _status(folder)
    if status == "complete" and not rebuild:
        return _result(lh, built=False)
    if status is None and folder.exists() and any(folder.iterdir()):
        msg = (
            f"{str(lh.root)!r} already holds data the demo did not create; "
            "pass another root (lakehouse --root DIR demo) so nothing of yours is touched"
        )
        raise InvalidArgument(msg)
    if status is not None:  # ours: complete (rebuild asked) or interrupted half-way
        say(f"removing the previous sample at {lh.root}")
        shutil.rmtree(folder)
    say(f"building the sample lakehouse in {lh.root}")
    folder.mkdir(parents=True, exist_ok=True)
    _mark(folder, "building")
    for step in STEPS:
        step(lh, say)
    _mark(folder, "complete")
    return _result(lh, built=True)


def _result(lh: lakehouse.Lakehouse, *, built: bool) -> DemoResult:
    infos = lh.datasets()
    return DemoResult(
        root=lh.root.local_folder("the demo"),
        built=built,
        datasets={i.name: i.latest_version for i in infos},
        tags={i.name: dict(i.tags) for i in infos},
    )


def next_steps(root_option: str, program: str = "lakehouse") -> list[str]:
    """Commands worth running next on the sample (``root_option`` is ``""`` or ``"--root DIR "``)."""
    cli = f"{program} {root_option}datasets"
    return [
        f"{cli} list",
        f"{cli} history {TRAIN}",
        f"{cli} show {TRAIN}:prod",
        f"{cli} diff {TRAIN} v0 prod --key id",
        f"{cli} diff {TRAIN} prod candidate --key id",
        f"{cli} tags {TRAIN}",
        f"{cli} read {TEST}:prod --out digits-test.parquet",
    ]
