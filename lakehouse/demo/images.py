"""The sample's file dataset: the digits as PNG files in a folder per label, in three versions.

``digits-images`` is what an image team's dataset usually is, an ImageFolder tree (``3/0042.png``) with a
card beside it:

* v0 — every digit as first labelled, in the folder of that label (with the raw data's labelling mistakes);
* v1 — the review round moves the mislabelled digits to the right folders (``labelled_by`` the reviewers):
  the diff shows them removed from one folder and added to another, same bytes;
* v2 — augmented with flipped and rotated copies (``3/0042-rot90.png``) of a few digits.

The PNGs are written to a scratch folder outside the root (the source, as a user's folder would be) and
added with :meth:`~lakehouse.datasets.dataset.Dataset.add_files` / ``sync_files``; labels are the folder names.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import lakehouse
from lakehouse._optional import import_optional
from lakehouse.demo.sample import load_digits, mislabelled

IMAGES = "digits-images"
AUGMENTED_IMAGES = 60  # digits copied flipped and rotated in v2 (two copies each)
_TRANSFORMS = ("flip", "rot90")

Report = Callable[[str], None]


def _label(path: str) -> int:
    """ImageFolder's rule: the label is the name of the folder the file is in."""
    return int(path.split("/", 1)[0])


def _write(folder: Path, digit: dict[str, object], label: int, suffix: str = "") -> Path:
    image_mod = import_optional("PIL.Image", extra="demo", purpose="the sample's image files")
    pixels = bytes(min(255, int(v) * 16) for v in digit["pixels"])  # type: ignore[attr-defined]
    image = image_mod.frombytes("L", (8, 8), pixels)
    if suffix == "flip":
        image = image.transpose(image_mod.Transpose.FLIP_LEFT_RIGHT)
    elif suffix == "rot90":
        image = image.transpose(image_mod.Transpose.ROTATE_90)
    target = folder / str(label) / f"{digit['id']:04d}{'-' + suffix if suffix else ''}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target, format="PNG")
    return target


def build_images(lh: lakehouse.Lakehouse, report: Report) -> None:
    """``digits-images`` in three versions (raw, relabelled, augmented), with cards and tags."""
    digits = load_digits()
    wrong = mislabelled(digits)
    raw_label = dict(zip(wrong.get_column("id"), wrong.get_column("label"), strict=True))
    ds = lh.dataset(IMAGES)
    with tempfile.TemporaryDirectory(prefix="lakehouse-demo-images-") as scratch:
        folder = Path(scratch)
        for digit in digits.iter_rows(named=True):
            _write(folder, digit, raw_label.get(digit["id"], digit["label"]))
        report(f"{IMAGES} v0: {digits.height} PNG files in a folder per label, as first labelled")
        ds.add_files(
            folder,
            labels=_label,
            created_by="data-eng",
            labelled_by="uci-original-annotators",
            description="The digits as 8x8 PNG files in a folder per label (ImageFolder layout)",
            metadata={"source": "sklearn.datasets.load_digits", "layout": "LABEL/ID.png"},
        )
        for digit in wrong.iter_rows(named=True):
            (folder / str(digit["label"]) / f"{digit['id']:04d}.png").unlink()
        for digit in digits.join(wrong.select("id"), on="id", how="semi").iter_rows(named=True):
            _write(folder, digit, digit["label"])
        report(f"{IMAGES} v1: review round moves {wrong.height} mislabelled files to the right folders")
        ds.sync_files(
            folder,
            labels=_label,
            created_by="alice",
            labelled_by="annotation-team",
            description=f"Review round 1: {wrong.height} mislabelled files moved to their label's folder",
            metadata={"review_round": 1, "relabelled": wrong.height},
        )
        for digit in digits.head(AUGMENTED_IMAGES).iter_rows(named=True):
            for transform in _TRANSFORMS:
                _write(folder, digit, digit["label"], transform)
        added = AUGMENTED_IMAGES * len(_TRANSFORMS)
        report(f"{IMAGES} v2: {added} flipped and rotated copies")
        ds.sync_files(
            folder,
            labels=_label,
            created_by="ml-eng",
            description=f"Augmented: {added} flipped and rotated copies of {AUGMENTED_IMAGES} digits",
            metadata={"augmentation": list(_TRANSFORMS), "augmented_from": f"{IMAGES}:v1"},
        )
    ds.tag("prod", version=1)
