"""What every importer shares: the report's counts, the one rule for which points are new, and run lookup.

An importer (MLflow, TensorBoard, W&B) turns a foreign store's runs into lakehouse runs. Whatever the source,
an import is incremental by the same rule: a point already in the run (same key, step, timestamp and value; NaN
compared by its bits) is not recorded again, and a point logged twice in the source is one point.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import polars as pl

from lakehouse.catalog.tables import METRICS
from lakehouse.query import frames
from lakehouse.query.runs import Folded, Tables, fold_events
from lakehouse.tracking import starting
from lakehouse.tracking.run import Run

if TYPE_CHECKING:
    from lakehouse.catalog.layout import Layout
    from lakehouse.client import Lakehouse

T = TypeVar("T")

#: Called as the import goes with (runs done, runs in total).
Progress = Callable[[int, int], None]


@dataclass
class ImportReport:
    """What one import did, counted as it goes. A second import of an unchanged source reports zeros except
    ``runs_unchanged`` and ``points_present``. ``run_ids`` (left out of :meth:`to_dict`) names the runs touched."""

    source: str
    runs_created: int = 0
    runs_updated: int = 0
    runs_unchanged: int = 0
    params: int = 0
    tags: int = 0
    points: int = 0
    points_present: int = 0
    seconds: float = 0.0
    run_ids: tuple[str, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("run_ids")
        return out


def present_runs(layout: Layout) -> Folded:
    """Every run of the root folded to base / params / tags (ids as strings), to match a source's runs against."""
    events = Tables.load(layout).events.with_columns(pl.col("run_id").cast(pl.String))
    return fold_events(events)


def pairs(frame: pl.DataFrame, run_id: str) -> dict[str, str]:
    """The ``key -> value`` rows of one run in a folded ``params`` or ``tags`` frame."""
    rows = frame.filter(pl.col("run_id").cast(pl.String) == run_id).select("key", "value")
    return {str(k): str(v) for k, v in rows.iter_rows()}


def as_metric_times(
    frame: pl.DataFrame, column: str = "timestamp", *, unit: Literal["ms", "us"] = "ms"
) -> pl.DataFrame:
    """``column`` (integers since the epoch in ``unit``) as the metrics table's timestamp type."""
    stamp = pl.from_epoch(pl.col(column), time_unit=unit).dt.replace_time_zone("UTC")
    return frame.with_columns(stamp.cast(METRICS.polars_schema["timestamp"]).alias(column))


def new_points(layout: Layout, run_id: str, source: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """The points of ``source`` (key, value, step, timestamp as the metrics table types it) that run ``run_id``
    lacks, and how many of the source's distinct points it has already."""
    source = source.select("key", "value", "step", "timestamp").unique(maintain_order=True)
    scan = frames.partition_scan(layout.metrics, METRICS, "run_id", [run_id])
    have = scan.select("key", "value", "step", "timestamp").unique().collect()
    # NaN never equals itself in a join: compare values by their bits.
    bits = pl.col("value").reinterpret(signed=True).alias("_bits")
    new = source.with_columns(bits).join(
        have.with_columns(bits), on=["key", "_bits", "step", "timestamp"], how="anti", nulls_equal=True
    )
    return new.drop("_bits"), source.height - new.height


def update_params_and_tags(
    run: Run,
    params: Mapping[str, str],
    tags: Mapping[str, str],
    *,
    have_params: Mapping[str, str],
    have_tags: Mapping[str, str],
    report: ImportReport,
) -> bool:
    """Record on an imported run the source's params it lacks (params never change) and the tags whose value
    differs; True if anything was recorded."""
    new_params = {k: v for k, v in params.items() if k not in have_params}
    new_tags = {k: v for k, v in tags.items() if have_tags.get(k) != v}
    if new_params:
        run.log_params(new_params)
        report.params += len(new_params)
    if new_tags:
        run.set_tags(new_tags)
        report.tags += len(new_tags)
    return bool(new_params or new_tags)


def create_run(
    lakehouse: Lakehouse,
    report: ImportReport,
    *,
    experiment: str,
    run_id: str | None,
    name: str | None,
    start_time: datetime | None,
    params: Mapping[str, str],
    tags: Mapping[str, str],
    points: pl.DataFrame,
    environment: Mapping[str, Any],
) -> Run:
    """A run new to the lakehouse, with everything the source has of it (``environment`` as the source says)."""
    handle = starting.create_run(
        lakehouse,
        experiment=experiment,
        run_id=run_id,
        name=name,
        start_time=start_time,
        params=params,
        tags=tags,
        environment=environment,
    )
    report.runs_created += 1
    report.params += len(params)
    report.tags += len(tags)
    if points.height:
        handle.log_frame(points)
        report.points += points.height
    return handle


def update_run(
    lakehouse: Lakehouse,
    report: ImportReport,
    run_id: str,
    *,
    params: Mapping[str, str],
    tags: Mapping[str, str],
    points: pl.DataFrame,
    have_params: Mapping[str, str],
    have_tags: Mapping[str, str],
) -> tuple[Run, bool, int]:
    """Add to a run imported before what the source has since: returns the handle, whether anything was
    recorded, and how many new points."""
    handle = Run(lakehouse, starting.writer_of(lakehouse), run_id, name=None, experiment=None)
    changed = update_params_and_tags(handle, params, tags, have_params=have_params, have_tags=have_tags, report=report)
    added = 0
    if points.height:
        points, present = new_points(lakehouse.layout, run_id, points)
        report.points_present += present
        if points.height:
            handle.log_frame(points)
            added = points.height
            report.points += added
    return handle, changed or added > 0, added


def count_update(report: ImportReport, changed: bool) -> None:
    """Count a run seen before as updated or unchanged."""
    if changed:
        report.runs_updated += 1
    else:
        report.runs_unchanged += 1


def import_each(
    lakehouse: Lakehouse,
    items: Sequence[T],
    one: Callable[[T], str],
    report: ImportReport,
    *,
    progress: Progress | None,
    started: float,
) -> None:
    """Import ``items`` (run folders, run files) with ``one`` (which returns the run id), then commit them all
    and finish the report (run ids, seconds since ``started``, a ``time.perf_counter()``)."""
    writer = starting.writer_of(lakehouse)
    touched = []
    for done, item in enumerate(items, start=1):
        touched.append(one(item))
        if progress is not None:
            progress(done, len(items))
    writer.flush()
    report.run_ids = tuple(touched)
    report.seconds = round(time.perf_counter() - started, 3)
