"""Cached reads behind the SQL page: the names and their columns, the examples, and bounded query runs.

Each read takes the versions of every table as ``stamp`` (:func:`lakehouse.app.shell.stamp`): a query may read
any table, so any commit makes its cached result stale.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import polars as pl
import streamlit as st

from lakehouse.app.shell import Stamp, handle, stamp
from lakehouse.sql import examples as showcase

MAX_ROWS = 100_000  # the most rows a visitor can ask for
MAX_SECONDS = 60  # the longest time limit a visitor can set
FIRST_QUERY = "SELECT name, experiment, status, start_time FROM runs"


def stamp_all() -> Stamp:
    return stamp()


@dataclass(frozen=True)
class Result:
    frame: pl.DataFrame
    truncated: bool  # more rows than the row limit
    seconds: float


@st.cache_data(show_spinner=False, max_entries=4)
def examples(stamp: Stamp) -> list[showcase.Example]:
    return showcase.for_lakehouse(handle())


@st.cache_data(show_spinner=False, max_entries=4)
def tables(stamp: Stamp) -> dict[str, str]:
    return handle().sql_tables()


@st.cache_data(show_spinner=False, max_entries=64)
def columns(name: str, stamp: Stamp) -> pl.DataFrame:
    """``column, type`` of a name (for a dataset, of its latest version)."""
    quoted = '"' + name.replace('"', '""') + '"'
    schema = handle().sql(f"SELECT * FROM {quoted}", lazy=True).collect_schema()
    return pl.DataFrame({"column": schema.names(), "type": [str(t) for t in schema.dtypes()]})


@st.cache_data(show_spinner="Running the query…", max_entries=16)
def run(query: str, max_rows: int, seconds: float, stamp: Stamp) -> Result:
    """At most ``max_rows`` rows of ``query``, stopped after ``seconds``."""
    started = time.perf_counter()
    frame = handle().sql(query, limit=max_rows + 1, timeout=seconds)
    return Result(frame.head(max_rows), frame.height > max_rows, time.perf_counter() - started)
