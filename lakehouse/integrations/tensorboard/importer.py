"""Import a TensorBoard log dir: every run folder becomes a run, its scalars metric points, its HParams params.

A run folder is what TensorBoard calls a run: a folder holding ``events.out.tfevents.*`` files (LOGDIR itself
included). Its run is named by the folder's path relative to LOGDIR and tagged with it
(``tensorboard.run``) and with LOGDIR (``tensorboard.logdir``): a later import finds the run by these two tags
and the experiment.

Incremental: each run records, in its tag ``tensorboard.offsets``, how far every event file of the folder has
been read (a JSON object of file name -> byte offset just past the last complete record). The next import reads
each file from there, so it decodes only events written since. The offsets tag and the points are committed by
the same writer; should a crash land between the two commits, the next import reads those bytes again and the
shared rule of :mod:`lakehouse.integrations._import` (a point already in the run is not recorded twice) keeps
every point exactly once.

Nothing is written before every event file of the log dir has been opened, so an unreadable file refuses the
whole import. A damaged or cut-short record ends the reading of its file (the import keeps what came before
it and the report's ``stopped`` says where); a file still being written ends the same way, and the next import
resumes there.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl

from lakehouse.errors import InvalidArgument
from lakehouse.integrations._import import (
    ImportReport,
    Progress,
    as_metric_times,
    count_update,
    create_run,
    import_each,
    pairs,
    present_runs,
    update_run,
)
from lakehouse.integrations.tensorboard.events import Decoded, decode
from lakehouse.integrations.tensorboard.records import frame
from lakehouse.tracking import starting
from lakehouse.tracking.validate import check_name

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse

EVENT_FILE_PREFIX = "events.out.tfevents."
LOGDIR_TAG = "tensorboard.logdir"
RUN_TAG = "tensorboard.run"
OFFSETS_TAG = "tensorboard.offsets"
HPARAM_METRICS_TAG = "tensorboard.hparam_metrics"
_SCHEMA = {"key": pl.String, "value": pl.Float64, "step": pl.Int64, "timestamp": pl.Int64}


@dataclass
class TensorBoardReport(ImportReport):
    """What one TensorBoard import did: the runs' counts (see :class:`lakehouse.integrations._import.ImportReport`),
    the files and bytes read, what was skipped by kind (histograms, images, text...), and where the reading of a
    file ``stopped`` before its end (file relative to LOGDIR, byte offset, why)."""

    experiment: str = ""
    files: int = 0
    bytes_read: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    stopped: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class _Known:
    run_id: str
    offsets: dict[str, int]
    params: dict[str, str]
    tags: dict[str, str]
    status: str


def run_folders(logdir: Path) -> dict[Path, list[Path]]:
    """The run folders under ``logdir`` (sorted) and their event files (in name order: the order written)."""
    found: dict[Path, list[Path]] = {}
    for folder, _dirs, names in os.walk(logdir, followlinks=False):
        events = sorted(n for n in names if n.startswith(EVENT_FILE_PREFIX))
        if events:
            found[Path(folder)] = [Path(folder) / n for n in events]
    # os.walk lists a folder named like an event file among the folders: it cannot be read as one.
    for folder, _dirs, _names in os.walk(logdir, followlinks=False):
        for name in _dirs:
            if name.startswith(EVENT_FILE_PREFIX):
                found.setdefault(Path(folder), []).append(Path(folder) / name)
    return dict(sorted(found.items()))


def check_logdir(logdir: Path | str) -> tuple[Path, dict[Path, list[Path]]]:
    """``logdir`` resolved, with its run folders, or :class:`InvalidArgument` naming what is wrong with it.

    Every event file is opened here, before anything is written: an unreadable one refuses the import.
    """
    path = Path(logdir).expanduser().resolve()
    if not path.exists():
        msg = f"the TensorBoard log dir {str(logdir)!r} does not exist"
        raise InvalidArgument(msg)
    if not path.is_dir():
        msg = f"{str(logdir)!r} is a file, not a TensorBoard log dir (a folder of runs' events.out.tfevents.* files)"
        raise InvalidArgument(msg)
    folders = run_folders(path)
    if not folders:
        msg = f"{str(logdir)!r} is not a TensorBoard log dir: no events.out.tfevents.* file in it or below it"
        raise InvalidArgument(msg)
    for files in folders.values():
        for file in files:
            try:
                with open(file, "rb") as handle:
                    handle.read(1)
            except OSError as e:
                msg = f"cannot read the event file {str(file)!r}: {e.strerror or e}"
                raise InvalidArgument(msg) from e
    return path, folders


def import_logdir(
    logdir: Path | str,
    lakehouse: Lakehouse,
    *,
    experiment: str | None = None,
    status: Literal["FINISHED", "RUNNING"] = "FINISHED",
    progress: Progress | None = None,
) -> TensorBoardReport:
    """Import the runs of the TensorBoard log dir ``logdir`` into ``experiment`` (default: the log dir's name).

    A second import commits only what was written since. The runs that got new points are marked ``status``
    (FINISHED, ending at their last event's time; RUNNING while a log dir is being followed).
    """
    started = time.perf_counter()
    path, folders = check_logdir(logdir)
    experiment = check_name(experiment if experiment is not None else path.name, what="experiment name")
    report = TensorBoardReport(source=str(path), experiment=experiment)
    known = _known_runs(lakehouse, path, experiment)

    def one(item: tuple[Path, list[Path]]) -> str:
        relative = item[0].relative_to(path).as_posix()
        return _import_run(lakehouse, path, relative, item[1], known.get(relative), experiment, status, report)

    import_each(lakehouse, list(folders.items()), one, report, progress=progress, started=started)
    return report


def _known_runs(lakehouse: Lakehouse, logdir: Path, experiment: str) -> dict[str, _Known]:
    """The runs earlier imports made of this log dir's folders, by folder (relative to the log dir)."""
    runs = present_runs(lakehouse.layout)
    tags = runs.tags.with_columns(pl.col("run_id").cast(pl.String), pl.col("key").cast(pl.String))
    mine = tags.filter((pl.col("key") == LOGDIR_TAG) & (pl.col("value") == str(logdir))).get_column("run_id")
    base = runs.base.with_columns(pl.col("run_id").cast(pl.String)).filter(
        pl.col("run_id").is_in(mine.implode()) & (pl.col("experiment").cast(pl.String) == experiment)
    )
    found: dict[str, _Known] = {}
    for run_id, status in base.select("run_id", "status").iter_rows():
        run_tags = pairs(tags, run_id)
        folder = run_tags.get(RUN_TAG)
        if folder is not None:
            offsets = {str(k): int(v) for k, v in json.loads(run_tags.get(OFFSETS_TAG) or "{}").items()}
            found[folder] = _Known(run_id, offsets, pairs(runs.params, run_id), run_tags, str(status))
    return found


def _import_run(
    lakehouse: Lakehouse,
    logdir: Path,
    relative: str,
    files: list[Path],
    known: _Known | None,
    experiment: str,
    status: str,
    report: TensorBoardReport,
) -> str:
    offsets = dict(known.offsets) if known else {}
    plugins: dict[str, str] = {}
    decoded: list[Decoded] = []
    for file in files:
        decoded.append(_read(file, logdir, offsets, plugins, report))
    points = _points(decoded)
    params: dict[str, str] = {}
    metrics: list[str] = []
    for part in decoded:
        params.update(part.params)
        metrics += [m for m in part.hparam_metrics if m not in metrics]
        for kind, n in part.skipped.items():
            report.skipped[kind] = report.skipped.get(kind, 0) + n
    walls = [w for part in decoded for w in (part.first_wall, part.last_wall) if w is not None]
    tags = {RUN_TAG: relative, LOGDIR_TAG: str(logdir), OFFSETS_TAG: json.dumps(offsets, sort_keys=True)}
    if metrics:
        tags[HPARAM_METRICS_TAG] = ",".join(metrics)
    if known is None:
        handle = create_run(
            lakehouse,
            report,
            experiment=experiment,
            run_id=None,
            name=relative if relative != "." else logdir.name,
            start_time=_time(min(walls)) if walls else None,
            params=params,
            tags=tags,
            points=points,
            environment={"source": "tensorboard-import", "logdir": str(logdir)},
        )
        changed, added = True, points.height
    else:
        handle, changed, added = update_run(
            lakehouse,
            report,
            known.run_id,
            params=params,
            tags=tags,
            points=points,
            have_params=known.params,
            have_tags=known.tags,
        )
    writer = starting.writer_of(lakehouse)
    if known is None or added or known.status != status:
        # A new run ends at its last event; a run seen before at this import, after the status it had then.
        at = _time(max(walls)) if known is None and walls and status == "FINISHED" else datetime.now(UTC)
        writer.add_event("runs", {"run_id": handle.id, "kind": "status", "at": at, "value": status})
        changed = True
    if known is not None:
        count_update(report, changed)
    writer.ensure_thread()
    return handle.id


def _read(file: Path, logdir: Path, offsets: dict[str, int], plugins: dict[str, str], report: Any) -> Decoded:
    """Decode what ``file`` holds past its recorded offset, move the offset, and note where reading stopped."""
    name = file.name
    start = offsets.get(name, 0)
    with open(file, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < start:
            where = {"file": file.relative_to(logdir).as_posix(), "offset": size}
            report.stopped.append({**where, "reason": f"the file is shorter than the {start} bytes imported before"})
            return Decoded()
        handle.seek(start)
        data = handle.read()
    framed = frame(data, origin=start)
    report.files += 1
    report.bytes_read += framed.end
    offsets[name] = start + framed.end
    if framed.damage is not None:
        where = {"file": file.relative_to(logdir).as_posix(), "offset": start + framed.end}
        report.stopped.append({**where, "reason": framed.damage})
    return decode(data, framed, plugins)


def _points(decoded: list[Decoded]) -> pl.DataFrame:
    """The scalars of a run's files as metric points (key, value, step, timestamp as the metrics table has it)."""
    frames = []
    for part in decoded:
        if not part.values:
            continue
        ids = np.concatenate(part.tag_ids)
        frames.append(
            pl.DataFrame(
                {
                    "key": pl.Series(part.tags, dtype=pl.String).gather(ids),
                    "value": np.concatenate(part.values),
                    "step": np.concatenate(part.steps),
                    "timestamp": np.round(np.concatenate(part.walls) * 1e6).astype(np.int64),
                },
                schema=_SCHEMA,
            )
        )
    if not frames:
        return pl.DataFrame(schema=_SCHEMA)
    return as_metric_times(pl.concat(frames), unit="us")


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)
