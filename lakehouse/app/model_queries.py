"""Cached reads behind the Models page (public ``lakehouse`` API only).

Each function takes the versions of what it reads as ``stamp``: the registry table, and for lineage the run
tables too (see :func:`lakehouse.app.shell.stamp`).
"""

from __future__ import annotations

import streamlit as st

import lakehouse
from lakehouse.app.shell import Stamp, handle, stamp

MODEL_TABLES = ("_catalog/models",)
LINEAGE_TABLES = (*MODEL_TABLES, "tracking/runs", "tracking/inputs", "tracking/metric_summaries")


def models_stamp() -> Stamp:
    return stamp(*MODEL_TABLES)


def lineage_stamp() -> Stamp:
    return stamp(*LINEAGE_TABLES)


@st.cache_data(show_spinner=False, max_entries=16)
def models(stamp: Stamp) -> list[lakehouse.RegisteredModel]:
    return handle().models()


@st.cache_data(show_spinner=False, max_entries=64)
def versions(name: str, stamp: Stamp) -> list[lakehouse.ModelVersion]:
    return handle().model(name).versions()


@st.cache_data(show_spinner=False, max_entries=64)
def alias_history(name: str, stamp: Stamp) -> list[lakehouse.AliasChange]:
    return handle().model(name).alias_history()


@st.cache_data(show_spinner=False, max_entries=64)
def lineage(ref: str, stamp: Stamp) -> lakehouse.ModelLineage:
    return handle().model_lineage(ref)
