"""Files on the Run and Models pages: a listing of artifacts, image artifacts inline, and download buttons.

Bytes are read through ``lh.artifact(run_id, path).read_bytes()`` (verified against the digest) and cached by
digest; files above :data:`DOWNLOAD_LIMIT` get no button (the page would hold them in memory), only a note
naming the CLI command that streams them.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import polars as pl
import streamlit as st

from lakehouse._units import human_size
from lakehouse.app.shell import Stamp, handle, stamp, table

ARTIFACT_TABLES = ("tracking/artifacts",)
#: Largest file (bytes) offered as a download button or shown inline.
DOWNLOAD_LIMIT = 50 * 1024 * 1024
#: Image artifacts drawn inline, at most.
IMAGE_LIMIT = 12
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp"})


def artifacts_stamp() -> Stamp:
    return stamp(*ARTIFACT_TABLES)


def version_files_stamp() -> Stamp:
    """The artifacts' stamp and the registry's: a version's files follow both."""
    return stamp(*ARTIFACT_TABLES, "_catalog/models")


@st.cache_data(show_spinner=False, max_entries=64)
def run_artifacts(run_id: str, stamp: Stamp) -> pl.DataFrame:
    return handle().artifacts(run_id)


@st.cache_data(show_spinner=False, max_entries=64)
def version_files(ref: str, stamp: Stamp) -> pl.DataFrame:
    return handle().model_files(ref)


@st.cache_data(show_spinner=False, max_entries=64)
def _bytes(run_id: str, path: str, digest: str) -> bytes:
    """A file's verified bytes; ``digest`` keys the cache, so a re-logged path is read afresh."""
    return handle().artifact(run_id, path).read_bytes()


def is_image(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in IMAGE_SUFFIXES


def panel(run_id: str | None, files: pl.DataFrame, *, key: str, images: bool = True) -> None:
    """The listing of ``files`` (``path, size, digest, logged_at``), their images and download buttons.

    ``run_id`` None lists the files without buttons (their owner is no run, e.g. a logged MLflow model).
    """
    shown = files.select(
        "path", pl.col("size").map_elements(human_size, return_dtype=pl.String).alias("size"), "logged_at"
    ).rename({"logged_at": "logged at"})
    table(shown, key=f"{key}_table")
    rows = files.rows(named=True)
    if images and run_id is not None:
        pictures = [r for r in rows if is_image(r["path"]) and r["size"] <= DOWNLOAD_LIMIT][:IMAGE_LIMIT]
        columns = st.columns(min(len(pictures), 3)) if pictures else []
        for i, r in enumerate(pictures):
            columns[i % len(columns)].image(_bytes(run_id, r["path"], r["digest"]), caption=r["path"])
    if run_id is None:
        st.caption(
            "These files belong to a logged MLflow model: fetch them with `mlflow.artifacts.download_artifacts`."
        )
        return
    too_big = []
    for r in rows:
        if r["size"] > DOWNLOAD_LIMIT:
            too_big.append(r["path"])
            continue
        st.download_button(
            f"{r['path']} ({human_size(r['size'])})",
            data=_bytes(run_id, r["path"], r["digest"]),
            file_name=PurePosixPath(r["path"]).name,
            key=f"{key}_download:{r['path']}",
            icon=":material/download:",
        )
    if too_big:
        st.caption(
            f"Larger than {human_size(DOWNLOAD_LIMIT)}, so not offered here: "
            + ", ".join(f"`{p}`" for p in too_big)
            + f". Stream them with `lakehouse artifacts get {run_id} PATH --out DEST`."
        )
