"""Cached reads behind the Datasets page's file views: listings, one page of files, thumbnails.

Fast on 100,000 files: the listing is the version's small columns (never the bytes), and a page reads the
bytes of its own rows only, one Parquet row group (about 100 files) at a time, through the training loaders'
:class:`~lakehouse.datasets.file_reader.VersionReader`. Thumbnails are made here on the server, small, and
cached by digest: the same file in two versions or on two pages is shrunk once.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import polars as pl
import streamlit as st

from lakehouse._optional import import_optional
from lakehouse.app.shell import Stamp, handle
from lakehouse.datasets import file_reader
from lakehouse.datasets import files as file_rows

#: Longest side of a thumbnail, in pixels; smaller images are scaled up to at least half of it, pixel-exact.
THUMB_PX = 128
#: Lines of a text file shown inline.
TEXT_LINES = 8
#: Files per page of the grid.
PAGE_SIZES = (24, 48, 96, 200)
#: Thumbnails kept in memory (a few KB each).
_THUMBS = 20_000

Kind = Literal["image", "text", "audio", "other"]
_FIXED = {f.name for f in file_rows.FILE_COLUMNS}


@dataclass(frozen=True)
class Cell:
    """One file as the grid shows it: a thumbnail, the first lines of a text, an audio clip, or just its name."""

    path: str
    caption: str
    kind: Kind
    media_type: str | None
    thumbnail: bytes | None = None
    text: str | None = None
    audio: bytes | None = None


@st.cache_data(show_spinner=False, max_entries=64)
def is_files(name: str, version: int, stamp: Stamp) -> bool:
    """True if version ``version`` of ``name`` is a file dataset."""
    return file_rows.is_file_schema(handle().dataset(name).schema(version))


@st.cache_resource(show_spinner=False, max_entries=8)
def _reader(ref: str, stamp: Stamp) -> file_reader.VersionReader:
    return file_reader.open_version(handle(), ref)


@st.cache_data(show_spinner=False, max_entries=16)
def listing(ref: str, stamp: Stamp) -> pl.DataFrame:
    """The files of the version ``ref`` (``name:vN``) sorted by path, without bytes, with their position."""
    reader = _reader(ref, stamp)
    frame = pl.DataFrame(reader.columns, strict=False).with_row_index("position")
    return frame.sort(file_rows.KEY)


def label_column(frame: pl.DataFrame) -> str | None:
    """The column the grid captions and filters by: ``label`` if there is one, else the first user column."""
    extra = [c for c in frame.columns if c not in _FIXED and c != "position" and frame.schema[c].is_(pl.Utf8())]
    extra += [c for c in frame.columns if c not in _FIXED and c != "position" and frame.schema[c].is_integer()]
    return "label" if "label" in frame.columns else (extra[0] if extra else None)


def kind_of(media_type: str | None) -> Kind:
    top = (media_type or "").split("/")[0]
    return top if top in ("image", "text", "audio") else "other"  # type: ignore[return-value]


@st.cache_data(show_spinner=False, max_entries=64)
def cells(ref: str, paths: tuple[str, ...], stamp: Stamp) -> list[Cell]:
    """The files ``paths`` of the version ``ref`` ready to show; only their own bytes are read."""
    reader = _reader(ref, stamp)
    frame = listing(ref, stamp)
    label = label_column(frame)
    rows = {r[file_rows.KEY]: r for r in frame.filter(pl.col(file_rows.KEY).is_in(paths)).iter_rows(named=True)}
    # Read in storage order, so each row group is read once however the page is sorted or filtered.
    data: dict[str, bytes] = {}

    def loader(path: str) -> Callable[[], bytes]:
        def load() -> bytes:
            if path not in data:
                data[path] = reader.read(rows[path]["position"])
            return data[path]

        return load

    out: list[Cell] = []
    for path in sorted((p for p in paths if p in rows), key=lambda p: rows[p]["position"]):
        row = rows[path]
        name = path.rsplit("/", 1)[-1]
        caption = name if label is None or row[label] is None else f"{row[label]} · {name}"
        kind = kind_of(row["media_type"])
        load = loader(path)
        cell = Cell(path=path, caption=caption, kind=kind, media_type=row["media_type"])
        if kind == "image":
            cell = replace(cell, thumbnail=thumbnail(row["sha256"], load))
        elif kind == "text":
            cell = replace(cell, text=first_lines(load()))
        elif kind == "audio":
            cell = replace(cell, audio=load())
        out.append(cell)
    order = {p: i for i, p in enumerate(paths)}
    return sorted(out, key=lambda c: order[c.path])


@st.cache_data(show_spinner=False, max_entries=_THUMBS)
def thumbnail(sha256: str, _load: Callable[[], bytes]) -> bytes | None:
    """A small PNG (pixel art, transparency) or JPEG (photos) of the image with digest ``sha256``.

    Keyed by the digest alone (``_load`` is not hashed): the bytes are read only when the digest is not
    cached yet. None for bytes Pillow cannot decode.
    """
    image_mod = import_optional("PIL.Image", extra="app", purpose="thumbnails of image files")
    try:
        image = image_mod.open(io.BytesIO(_load()))
        image.load()
    except (OSError, ValueError, image_mod.DecompressionBombError):
        return None
    side = max(image.size)
    if side < THUMB_PX // 2:  # tiny images (8×8 digits) scaled up pixel-exact, or they vanish in the grid
        factor = (THUMB_PX // 2 + side - 1) // side
        image = image.resize((image.width * factor, image.height * factor), image_mod.Resampling.NEAREST)
    else:
        image.thumbnail((THUMB_PX, THUMB_PX))
    out = io.BytesIO()
    if image.mode in ("RGB", "L") and side >= THUMB_PX // 2:
        image.save(out, format="JPEG", quality=80)
    else:
        if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            image = image.convert("RGBA")
        image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def first_lines(data: bytes, lines: int = TEXT_LINES) -> str:
    """The first ``lines`` lines of a text file (at most 200 characters each; undecodable bytes replaced)."""
    head = data[: 16 * 1024].decode("utf-8", errors="replace").splitlines()[:lines]
    return "\n".join(line[:200] for line in head)


def with_labels(frame: pl.DataFrame, *, column: str | None, labels: Sequence[str]) -> pl.DataFrame:
    """The files whose label (as text) is one of ``labels``; every file if none are given."""
    if column is None or not labels:
        return frame
    return frame.filter(pl.col(column).cast(pl.Utf8).is_in(list(labels)))
