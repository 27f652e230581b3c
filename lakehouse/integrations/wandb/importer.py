"""Import the runs the ``wandb`` client wrote in offline mode (``WANDB_MODE=offline``: ``wandb/offline-run-*``).

Each folder's ``run-<id>.wandb`` file becomes a run that keeps W&B's run id: its name, project (the
experiment), config (params, nested keys joined with ``.``), ``wandb.log`` history (metric points at their
``_step`` and ``_timestamp``), summary (tags ``wandb.summary.<key>``), tags, group, job type and notes (tags
``wandb.tags`` comma-separated, ``wandb.group``, ``wandb.job_type``, ``wandb.notes``), and its state: FINISHED
for exit code 0, FAILED otherwise, and FAILED with ``wandb.state`` ``crashed`` for a run that never exited.

Incremental as the TensorBoard import: the tag ``wandb.offsets`` records how far each file was read, a second
import reads on from there, and a point the run already has is never recorded twice. Every folder's file is
opened and its header checked before anything is written: an unknown format refuses the whole import.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from lakehouse.errors import InvalidArgument
from lakehouse.integrations import _import as shared
from lakehouse.integrations._import import count_update, create_run, pairs, update_run
from lakehouse.integrations.wandb.records import check_header, read
from lakehouse.tracking import starting

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse

OFFSETS_TAG = "wandb.offsets"
_SCHEMA = {"key": pl.String, "value": pl.Float64, "step": pl.Int64, "timestamp": pl.Int64}


@dataclass
class WandbReport(shared.ImportReport):
    """What one W&B import did: the runs' counts (see :class:`lakehouse.integrations._import.ImportReport`),
    the history values skipped because they are not numbers (media, tables, text), and where reading a file
    stopped before its end."""

    skipped: int = 0
    stopped: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Run:
    """What a run file's records say, folded in order."""

    run_id: str = ""
    name: str | None = None
    project: str = ""
    start: datetime | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    summary: dict[str, str] = field(default_factory=dict)
    rows: tuple[list[str], list[float], list[int], list[int]] = field(default_factory=lambda: ([], [], [], []))
    exit_code: int | None = None
    runtime: float | None = None
    skipped: int = 0


def run_files(path: Path | str) -> list[Path]:
    """The ``run-*.wandb`` files of the offline runs at ``path`` (a ``wandb`` folder, the folder holding it, or
    one ``offline-run-*`` folder), or :class:`InvalidArgument`; every header is checked here."""
    where = Path(path).expanduser().resolve()
    if not where.is_dir():
        msg = f"the W&B folder {str(path)!r} does not exist" if not where.exists() else f"{str(path)!r} is a file"
        raise InvalidArgument(msg)
    if where.name.startswith("offline-run-"):
        folders = [where]
    else:
        folders = sorted(where.glob("offline-run-*")) or sorted(where.glob("wandb/offline-run-*"))
    if not folders:
        msg = f"{str(path)!r} holds no W&B offline runs (no offline-run-* folder in it or in its wandb/ folder)"
        raise InvalidArgument(msg)
    files = []
    for folder in folders:
        found = sorted(folder.glob("run-*.wandb"))
        if len(found) != 1:
            msg = f"the W&B offline run {str(folder)!r} has {len(found)} run-*.wandb files; one is expected"
            raise InvalidArgument(msg)
        try:
            with open(found[0], "rb") as handle:
                check_header(handle.read(7), str(found[0]))
        except OSError as e:
            msg = f"cannot read the W&B run file {str(found[0])!r}: {e.strerror or e}"
            raise InvalidArgument(msg) from e
        files.append(found[0])
    return files


def import_offline(path: Path | str, lakehouse: Lakehouse, *, progress: shared.Progress | None = None) -> WandbReport:
    """Import every offline run at ``path`` (see :func:`run_files`); a second import adds only what is new."""
    started = time.perf_counter()
    files = run_files(path)
    report = WandbReport(source=str(Path(path).expanduser().resolve()))
    present = shared.present_runs(lakehouse.layout)
    known = set(present.base.get_column("run_id").cast(pl.String).to_list())
    shared.import_each(
        lakehouse,
        files,
        lambda file: _import_file(lakehouse, file, present, known, report),
        report,
        progress=progress,
        started=started,
    )
    return report


def _import_file(lakehouse: Lakehouse, file: Path, present: Any, known: set[str], report: WandbReport) -> str:
    data = file.read_bytes()
    run_id = file.stem.removeprefix("run-")
    have_tags = pairs(present.tags, run_id) if run_id in known else {}
    offsets: dict[str, int] = json.loads(have_tags.get(OFFSETS_TAG) or "{}")
    key = file.parent.name
    result = read(data, offsets.get(key, 7))
    if result.damage is not None:
        report.stopped.append({"file": str(file), "offset": result.end, "reason": result.damage})
    run = _fold(result.records)
    run_id = run.run_id or run_id
    offsets[key] = result.end
    tags = {**run.tags, **{f"wandb.summary.{k}": v for k, v in run.summary.items()}}
    tags[OFFSETS_TAG] = json.dumps(offsets, sort_keys=True)
    points = _points(run)
    report.skipped += run.skipped
    if run_id not in known:
        create_run(
            lakehouse,
            report,
            experiment=run.project or "default",
            run_id=run_id,
            name=run.name,
            start_time=run.start,
            params=run.params,
            tags=tags,
            points=points,
            environment={"source": "wandb-import"},
        )
    else:
        _, changed, _ = update_run(
            lakehouse,
            report,
            run_id,
            params=run.params,
            tags=tags,
            points=points,
            have_params=pairs(present.params, run_id),
            have_tags=have_tags,
        )
        count_update(report, changed)
    writer = starting.writer_of(lakehouse)
    if run.exit_code is not None or run_id not in known:  # a run that never exited is FAILED (crashed)
        status = "FINISHED" if run.exit_code == 0 else "FAILED"
        end = run.start + timedelta(seconds=run.runtime) if run.start and run.runtime is not None else None
        writer.add_event("runs", {"run_id": run_id, "kind": "status", "at": end or datetime.now(UTC), "value": status})
    writer.ensure_thread()
    return run_id


def _fold(records: list[Any]) -> _Run:
    run = _Run()
    for record in records:
        kind = record.WhichOneof("record_type")
        if kind == "run":
            _run_record(record.run, run)
        elif kind == "config":
            _config(record.config.update, run)
        elif kind == "history":
            _history(record.history, run)
        elif kind == "summary":
            for item in record.summary.update:
                name = ".".join(item.nested_key) if item.nested_key else item.key
                if not name.startswith("_"):
                    run.summary[name] = _text(json.loads(item.value_json))
        elif kind == "exit":
            run.exit_code = int(record.exit.exit_code)
            run.runtime = float(record.exit.runtime)
    if run.exit_code is not None:
        run.tags["wandb.state"] = "finished" if run.exit_code == 0 else "failed"
    elif run.run_id:  # read from its start and never exited; a later read of the rest may still find the exit
        run.tags["wandb.state"] = "crashed"
    return run


def _run_record(record: Any, run: _Run) -> None:
    run.run_id = record.run_id
    run.name = record.display_name or None
    run.project = record.project
    if record.HasField("start_time"):
        run.start = record.start_time.ToDatetime(tzinfo=UTC)
    _config(record.config.update, run)
    if record.tags:
        run.tags["wandb.tags"] = ",".join(record.tags)
    for tag, value in (("wandb.group", record.run_group), ("wandb.job_type", record.job_type)):
        if value:
            run.tags[tag] = value
    if record.notes:
        run.tags["wandb.notes"] = record.notes


def _config(updates: Any, run: _Run) -> None:
    for item in updates:
        name = ".".join(item.nested_key) if item.nested_key else item.key
        if name == "_wandb" or name.startswith("_wandb."):
            continue
        _flatten(name, json.loads(item.value_json), run.params)


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    """Nested config values as ``a.b.c`` params (W&B keeps a config's dicts as they were given)."""
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}", v, out)
    else:
        out[prefix] = _text(value)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _history(record: Any, run: _Run) -> None:
    values: dict[str, Any] = {}
    for item in record.item:
        name = ".".join(item.nested_key) if item.nested_key else item.key
        values[name] = json.loads(item.value_json)
    step = int(values.pop("_step", record.step.num))
    stamp = values.pop("_timestamp", None)
    micros = round(float(stamp) * 1e6) if isinstance(stamp, int | float) else round(time.time() * 1e6)
    keys, numbers, steps, stamps = run.rows
    for name, value in values.items():
        if name.startswith("_"):
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            run.skipped += 1  # media, tables, histograms, text: not metric points
            continue
        keys.append(name)
        numbers.append(float(value))
        steps.append(step)
        stamps.append(micros)


def _points(run: _Run) -> pl.DataFrame:
    keys, numbers, steps, stamps = run.rows
    frame = pl.DataFrame({"key": keys, "value": numbers, "step": steps, "timestamp": stamps}, schema=_SCHEMA)
    return shared.as_metric_times(frame, unit="us")
