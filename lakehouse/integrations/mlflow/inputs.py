"""MLflow dataset inputs (``mlflow.log_input``) and lakehouse dataset versions, both ways.

A lakehouse dataset version is an MLflow dataset whose source is a :class:`DeltaDatasetSource` with the
table's path and version. When such an input is logged it is also recorded in ``tracking/inputs``: it shows
in the run's lineage (``lh.lineage("mnist:v3")``) and dataset vacuum keeps that version readable. Runs logged
with ``lh.start_run(inputs=[...])`` show their inputs to MLflow the same way.

Inputs of any other source (pandas, a URL...) are kept as they are, as JSON in an ``input`` event of
``tracking/runs``, and come back unchanged.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow.data.delta_dataset_source import DeltaDatasetSource
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import Dataset, DatasetInput, InputTag
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from lakehouse.errors import InvalidArgument

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse
    from lakehouse.datasets.versions import DatasetVersion

SOURCE_TYPE = DeltaDatasetSource._get_source_type()
_DIGEST_LENGTH = 10


class VersionedDeltaSource(DeltaDatasetSource):
    """A ``DeltaDatasetSource`` that always records its version: MLflow's drops version 0 (it is falsy)."""

    def to_dict(self) -> dict[Any, Any]:
        out: dict[Any, Any] = super().to_dict()
        if self.delta_table_version is not None:
            out["delta_table_version"] = self.delta_table_version
        return out


def dataset_input(lakehouse: Lakehouse, ref: str) -> MetaDataset:
    """An MLflow dataset for the lakehouse dataset version ``ref`` names, for ``mlflow.log_input``.

    >>> mlflow.log_input(dataset_input(lh, "mnist-train:prod"), context="training")

    The reference is resolved now; the dataset's source is a ``DeltaDatasetSource`` with the table's path and
    that version, so the run records exactly which version it used.
    """
    version = lakehouse.resolve(ref)
    path = str(lakehouse.layout.dataset(version.name))
    source = VersionedDeltaSource(path=path, delta_table_version=version.version)
    return MetaDataset(source=source, name=version.name, digest=digest_of(version))  # type: ignore[abstract]


def digest_of(version: DatasetVersion) -> str:
    """A short digest of the exact files a version reads (MLflow shows digests of about this length)."""
    return version.digest.removeprefix("sha256:")[:_DIGEST_LENGTH]


def lakehouse_version(lakehouse: Lakehouse, dataset: Dataset) -> tuple[str, int | None] | None:
    """``(name, version)`` if an MLflow dataset's source is a table under this root's ``datasets/``, else None.

    ``version`` is None when the source names no version (then the latest is meant).
    """
    if dataset.source_type != SOURCE_TYPE:
        return None
    try:
        source = json.loads(dataset.source)
    except (TypeError, ValueError):
        return None
    path = source.get("path") if isinstance(source, dict) else None
    if not isinstance(path, str):
        return None
    folder = Path(path.removeprefix("file://")).expanduser().absolute()
    datasets = lakehouse.layout.datasets_dir.local
    if datasets is None or folder.parent != datasets:
        return None
    version = source.get("delta_table_version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        msg = f"dataset input {dataset.name!r}: delta_table_version must be an integer, got {version!r}"
        raise InvalidArgument(msg)
    return folder.name, version


def with_version(dataset_input: DatasetInput, version: int) -> DatasetInput:
    """The same input with ``delta_table_version`` set in its source."""
    d = dataset_input.dataset
    source = {**json.loads(d.source), "delta_table_version": version}
    dataset = Dataset(
        name=d.name,
        digest=d.digest,
        source_type=d.source_type,
        source=json.dumps(source),
        schema=d.schema,
        profile=d.profile,
    )
    return DatasetInput(dataset=dataset, tags=list(dataset_input.tags))


def context_of(dataset_input: DatasetInput) -> str | None:
    for tag in dataset_input.tags:
        if tag.key == MLFLOW_DATASET_CONTEXT:
            return str(tag.value)
    return None


def to_json(dataset_input: DatasetInput) -> str:
    """The event payload of one dataset input."""
    d = dataset_input.dataset
    return json.dumps(
        {
            "name": d.name,
            "digest": d.digest,
            "source_type": d.source_type,
            "source": d.source,
            "schema": d.schema,
            "profile": d.profile,
            "tags": [[t.key, t.value] for t in dataset_input.tags],
        },
        sort_keys=True,
    )


def identity(dataset_input: DatasetInput) -> tuple[str, str]:
    """What makes two inputs of a run the same input for MLflow: the dataset's name and digest."""
    return dataset_input.dataset.name, dataset_input.dataset.digest


def first_of_each(logged: Iterable[tuple[str, str]]) -> Iterator[tuple[str, DatasetInput]]:
    """``(run_id, input)`` for the ``(run_id, JSON)`` events of inputs, each run's repeats left out.

    MLflow ignores a dataset (same name and digest) logged to a run again: the first one, with its tags, stays.
    """
    seen: set[tuple[str, str, str]] = set()
    for run_id, text in logged:
        entity = from_json(text)
        key = (run_id, *identity(entity))
        if key not in seen:
            seen.add(key)
            yield run_id, entity


def from_json(text: str) -> DatasetInput:
    raw: dict[str, Any] = json.loads(text)
    dataset = Dataset(
        name=raw["name"],
        digest=raw["digest"],
        source_type=raw["source_type"],
        source=raw["source"],
        schema=raw.get("schema"),
        profile=raw.get("profile"),
    )
    return DatasetInput(dataset=dataset, tags=[InputTag(key=k, value=v) for k, v in raw.get("tags", [])])


class VersionInputs:
    """MLflow inputs for ``tracking/inputs`` rows; a version's digest and size are read once (they never change)."""

    def __init__(self, lakehouse: Lakehouse) -> None:
        self._lh = lakehouse
        self._dataset = functools.lru_cache(maxsize=4096)(self._describe)

    def _describe(self, name: str, version: int) -> Dataset:
        path = str(self._lh.layout.dataset(name))
        source = VersionedDeltaSource(path=path, delta_table_version=version).to_json()
        try:
            found = self._lh.dataset(name).version(version)
        except Exception:  # noqa: BLE001 - a vacuumed or dropped dataset still shows as an input, without facts
            return Dataset(name=name, digest="", source_type=SOURCE_TYPE, source=source)
        profile = json.dumps({"num_rows": found.num_rows, "num_files": found.num_files})
        return Dataset(name=name, digest=digest_of(found), source_type=SOURCE_TYPE, source=source, profile=profile)

    def entity(self, name: str, version: int, context: str | None) -> DatasetInput:
        tags = [InputTag(key=MLFLOW_DATASET_CONTEXT, value=context)] if context else []
        return DatasetInput(dataset=self._dataset(name, version), tags=tags)
