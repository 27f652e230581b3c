"""MLflow entities (Run, RunInfo, Experiment...) built from the folded frames of :mod:`.view`.

Only the runs a caller returns are turned into Python objects: a search over ten thousand runs filters,
sorts and pages in polars, then builds entities for one page.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

import polars as pl
from mlflow.entities import (
    DatasetInput,
    Experiment,
    ExperimentTag,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunTag,
)
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

from lakehouse.integrations.mlflow import inputs as mlflow_inputs
from lakehouse.integrations.mlflow import models as logged_models
from lakehouse.integrations.mlflow.view import RunsFrames
from lakehouse.query.events import in_order
from lakehouse.tracking.experiments import Experiment as RegisteredExperiment


@dataclass(frozen=True)
class Home:
    """Where a run's experiment key leads: the experiment id and its artifact location."""

    experiment_id: str
    artifact_location: str | None

    def artifact_uri(self, run_id: str) -> str | None:
        if not self.artifact_location:
            return None
        return f"{self.artifact_location.rstrip('/')}/{run_id}/artifacts"


def experiment(found: RegisteredExperiment) -> Experiment:
    return Experiment(
        experiment_id=found.id,
        name=found.name,
        artifact_location=found.artifact_location or "",
        lifecycle_stage=found.lifecycle,
        tags=[ExperimentTag(k, v) for k, v in found.tags.items()],
        creation_time=_ms(found.created_at),
        last_update_time=_ms(found.updated_at),
    )


def _ms(when: object) -> int:
    from datetime import datetime

    assert isinstance(when, datetime)
    return int(when.timestamp() * 1000)


def run_info(row: Mapping[str, object], home: Home) -> RunInfo:
    run_id = str(row["run_id"])
    return RunInfo(
        run_id=run_id,
        experiment_id=home.experiment_id,
        user_id=str(row["user_id"] or ""),
        status=str(row["status"]),
        start_time=int(row["start_time"]),  # type: ignore[call-overload]
        end_time=None if row["end_time"] is None else int(row["end_time"]),  # type: ignore[call-overload]
        lifecycle_stage=str(row["lifecycle"]),
        artifact_uri=home.artifact_uri(run_id),
        run_name=None if row["name"] is None else str(row["name"]),
    )


def without_name_tag(events: pl.DataFrame) -> frozenset[str]:
    """Runs whose ``mlflow.runName`` tag was deleted since they were last named.

    As in MLflow's SQL store such a run keeps its name (``run_name``, ordering by it) but has no name tag: tag
    searches and ``attributes.run_name`` filters (MLflow's read the tag) do not find it. Naming the run again
    (a rename, or setting the tag) brings the tag back.
    """
    kind, key = pl.col("kind"), pl.col("key")
    deleted = (kind == "tag_deleted") & (key == MLFLOW_RUN_NAME)
    marked = events.filter(deleted).get_column("run_id").unique()
    if marked.len() == 0:
        return frozenset()
    naming = events.filter(pl.col("run_id").is_in(marked.implode()) & (kind.is_in(["created", "renamed"]) | deleted))
    last = in_order(naming).group_by("run_id", maintain_order=True).agg(kind.last())
    return frozenset(last.filter(kind == "tag_deleted").get_column("run_id").to_list())


def runs(
    snapshot: RunsFrames,
    run_ids: Sequence[str],
    home_of: Callable[[str], Home],
    versions: mlflow_inputs.VersionInputs,
    models: logged_models.Models | None = None,
    *,
    unnamed: Collection[str] = frozenset(),
) -> list[Run]:
    """Run entities for ``run_ids`` (in that order; ids not in the snapshot are skipped), with the logged models
    each run output and used (``models``); runs in ``unnamed`` (:func:`without_name_tag`) have no name tag."""
    if not run_ids:
        return []
    wanted = pl.Series("run_id", list(run_ids), dtype=pl.String)
    view = snapshot.runs

    def pick(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.join(wanted.to_frame(), on="run_id", how="semi") if frame.height else frame

    base = {r["run_id"]: r for r in pick(view.base).iter_rows(named=True)}
    params: dict[str, list[Param]] = defaultdict(list)
    for run_id, key, value in pick(view.params).iter_rows():
        params[run_id].append(Param(key, value))
    tags: dict[str, list[RunTag]] = defaultdict(list)
    for run_id, key, value in pick(view.tags).iter_rows():
        if key != MLFLOW_RUN_NAME:  # the run name is the name column; its tag is derived from it below
            tags[run_id].append(RunTag(key, value))
    metrics: dict[str, list[Metric]] = defaultdict(list)
    for run_id, key, value, step, timestamp in pick(snapshot.metrics).iter_rows():
        metrics[run_id].append(Metric(key=key, value=value, timestamp=timestamp, step=step))
    dataset_inputs = _inputs(pick(view.inputs), pick(snapshot.lineage), versions)

    out = []
    for run_id in run_ids:
        row = base.get(run_id)
        if row is None:
            continue
        info = run_info(row, home_of(str(row["experiment"])))
        run_tags = tags.get(run_id, [])
        if row["name"] is not None and run_id not in unnamed:
            run_tags = [*run_tags, RunTag(MLFLOW_RUN_NAME, row["name"])]
        data = RunData(metrics=metrics.get(run_id, []), params=params.get(run_id, []), tags=run_tags)
        used = list(models.inputs.get(run_id, [])) if models else []
        made = list(models.outputs.get(run_id, [])) if models else []
        inputs = RunInputs(dataset_inputs=dataset_inputs.get(run_id, []), model_inputs=used)
        out.append(Run(info, data, inputs, RunOutputs(model_outputs=made)))
    return out


def _inputs(
    events: pl.DataFrame, lineage: pl.DataFrame, versions: mlflow_inputs.VersionInputs
) -> dict[str, list[DatasetInput]]:
    """Dataset inputs per run: those logged through MLflow as they were logged, then lakehouse versions used
    (``tracking/inputs``) that no MLflow input already describes."""
    out: dict[str, list[DatasetInput]] = defaultdict(list)
    covered: set[tuple[str, str, int | None, str | None]] = set()
    for run_id, entity in mlflow_inputs.first_of_each(events.iter_rows()):
        out[run_id].append(entity)
        if entity.dataset.source_type == mlflow_inputs.SOURCE_TYPE:
            source = json.loads(entity.dataset.source)
            folder = str(source.get("path", "")).rstrip("/").rsplit("/", 1)[-1]
            context = mlflow_inputs.context_of(entity)
            covered.add((run_id, folder, source.get("delta_table_version"), context))
    if lineage.height:
        seen: set[tuple[str, str, int, str | None]] = set()
        for row in lineage.iter_rows(named=True):
            key = (row["run_id"], row["dataset"], row["version"], row["context"])
            if key in seen or key in covered:
                continue
            seen.add(key)
            out[row["run_id"]].append(versions.entity(row["dataset"], row["version"], row["context"]))
    return out
