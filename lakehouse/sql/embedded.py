"""``lh.sql(query)``: the query on polars' SQL engine over the catalog's frames, lazily.

Steps: the guard checks the statement (:mod:`lakehouse.sql.guard`), the catalog resolves the tables it names
(:func:`lakehouse.sql.catalog.plan`: names, datasets, refs to concrete versions), only those are registered in
a fresh ``pl.SQLContext``, and polars plans the query over lazy frames, so filters reach the Delta scans.
Engine errors come back as :class:`~lakehouse.errors.QueryError` naming the unknown column or field with the
closest names.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import polars as pl
from polars.lazyframe.in_process import InProcessQuery

from lakehouse.errors import QueryError, StorageError, closest
from lakehouse.sql import catalog, guard

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse

_MISSING_COLUMN = re.compile(r'unable to find column "([^"]+)"')


def sql(
    lh: Lakehouse, query: str, *, lazy: bool = False, limit: int | None = None, timeout: float | None = None
) -> pl.DataFrame | pl.LazyFrame:
    """Run a read-only SQL query over the lakehouse's names (see :mod:`lakehouse.sql.catalog`).

    ``limit`` keeps the first rows only (the engine stops reading once it has them, where it can);
    ``timeout`` (seconds, eager only) cancels a query still running after that long. Which polars engine runs
    is polars' default choice (its streaming engine in polars 2); a time-limited query is collected in polars'
    background pool, on its in-memory engine (docs/SQL.md, "Streaming, today"). A ``lazy`` result may be
    collected with ``engine="streaming"``.

    Raises:
        QueryRefused: the statement is not a query, or it reads files.
        QueryError: an unknown table, column or field (with the closest names), or SQL polars cannot run.
        InvalidRef / DatasetNotFound / VersionNotFound / TagNotFound: a dataset reference that does not resolve.
    """
    inspected = guard.inspect(query)
    sources = catalog.plan(lh, [t.value for t in inspected.tables], inspected.ctes)
    frames = {s.text: catalog.frame(lh, s) for s in sources}
    context: pl.SQLContext[pl.LazyFrame] = pl.SQLContext(frames)
    try:
        result = context.execute(inspected.text, eager=False)
        result.collect_schema()  # plans the query: unknown columns and type errors surface here
        if limit is not None:
            result = result.head(limit)
        if lazy:
            return result
        return result.collect() if timeout is None else _collect_within(result, timeout)
    except pl.exceptions.PolarsError as e:
        raise translate(e, frames.values()) from e
    except OSError as e:  # a data file the table lists is gone (removed by hand, or a vacuumed version)
        msg = f"the query could not read a table file: {e}"
        raise StorageError(msg) from e


class _Cancelled:
    """Queries cancelled for running out of time, kept until their engine has stopped: the engine's worker hands
    its outcome to the query handle when it notices the cancellation (which may take a while inside one large
    step), and a handle dropped before that makes the worker panic. Process-wide: it holds no table data."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: list[InProcessQuery] = []

    def keep(self, query: InProcessQuery) -> None:
        with self.lock:
            self.running = [q for q in self.running if not _finished(q)]
            self.running.append(query)

    def prune(self) -> int:
        """Let go of the queries whose engine stopped; returns how many still run."""
        with self.lock:
            self.running = [q for q in self.running if not _finished(q)]
            return len(self.running)


def _finished(query: InProcessQuery) -> bool:
    """Whether the engine stopped (asked once per query: its outcome is handed over once)."""
    try:
        return query.fetch() is not None
    except pl.exceptions.PolarsError:  # the cancellation itself, reported once the engine stopped
        return True


_CANCELLED = _Cancelled()


def _collect_within(frame: pl.LazyFrame, timeout: float) -> pl.DataFrame:
    """Collect ``frame`` in polars' background thread pool; cancel it if it runs longer than ``timeout``."""
    running = frame.collect(background=True)
    deadline = time.monotonic() + timeout
    wait = 0.001
    while True:
        done = running.fetch()
        if done is not None:
            return done
        if time.monotonic() >= deadline:
            running.cancel()
            _CANCELLED.keep(running)
            msg = f"the query was stopped after {timeout:g} s (the time limit); narrow it with WHERE or LIMIT"
            raise QueryError(msg)
        time.sleep(wait)
        wait = min(wait * 2, 0.05)


def translate(error: pl.exceptions.PolarsError, frames: Iterable[pl.LazyFrame]) -> QueryError:
    """A polars SQL error as a :class:`QueryError`: its first paragraph, with the closest names for a miss."""
    text = str(error).split("\n\nResolved plan", 1)[0].split("\n\nThis error occurred", 1)[0]
    text = text.split("\n\nDid you mean", 1)[0].strip()
    schemas = [f.collect_schema() for f in frames]
    if isinstance(error, pl.exceptions.ColumnNotFoundError):
        match = _MISSING_COLUMN.search(text)
        if match:
            name = match.group(1)
            known = [c for s in schemas for c in s.names()]
            return QueryError(f"unknown column {name!r}{closest(name, known)}")
    if isinstance(error, pl.exceptions.StructFieldNotFoundError):
        fields = [f.name for s in schemas for t in s.dtypes() for f in _fields(t)]
        return QueryError(f"unknown field {text!r} of a struct column{closest(text, fields)}")
    if isinstance(error, pl.exceptions.SQLInterfaceError) and text.startswith("relation "):
        return QueryError(f"unknown table: {text}")
    return QueryError(f"the query cannot run: {text}")


def _fields(dtype: object) -> list[pl.Field]:
    """Every field of a struct type, nested ones too (``metrics.loss.max``)."""
    if not isinstance(dtype, pl.Struct):
        return []
    return [x for f in dtype.fields for x in (f, *_fields(f.dtype))]
