"""How the Datasets page shows files: a grid of thumbnails with captions, text heads and audio players."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import streamlit as st

from lakehouse.app.file_queries import Cell


def show(cells: Sequence[Cell], *, key: str) -> None:
    """Images as one grid of thumbnails (caption under each), then text and audio files, then the rest."""
    images = [c for c in cells if c.kind == "image" and c.thumbnail is not None]
    if images:
        with st.container(key=f"{key}_images"):
            # As data URLs: Streamlit re-encodes image bytes (a PNG with transparency would become a JPEG);
            # a URL it passes on as it is, and a page of small thumbnails is a few hundred KB at most.
            st.image([_data_url(c.thumbnail) for c in images if c.thumbnail], caption=[c.caption for c in images])
    for cell in cells:
        if cell.kind == "text" and cell.text is not None:
            st.caption(f"`{cell.path}` · {cell.caption}")
            st.code(cell.text, language=None)
        elif cell.kind == "audio" and cell.audio is not None:
            st.caption(f"`{cell.path}` · {cell.caption}")
            st.audio(cell.audio, format=cell.media_type or "audio/wav")
        elif cell.kind == "other" or (cell.kind == "image" and cell.thumbnail is None):
            st.caption(f"`{cell.path}` · {cell.media_type or 'unknown type'} (no preview)")


def _data_url(thumbnail: bytes) -> str:
    kind = "png" if thumbnail.startswith(b"\x89PNG") else "jpeg"
    return f"data:image/{kind};base64,{base64.b64encode(thumbnail).decode('ascii')}"
