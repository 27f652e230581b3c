"""MLflow compatibility: the MLflow client, autolog and ``mlflow server`` read and write the lakehouse tables.

>>> import mlflow
>>> mlflow.set_tracking_uri("lakehouse:///path/to/root")   # or MLFLOW_TRACKING_URI
>>> with mlflow.start_run():
...     mlflow.log_metric("loss", 0.3, step=1)

MLflow finds the stores through the ``mlflow.tracking_store`` and ``mlflow.model_registry_store`` entry
points ``lakehouse`` (this package's :func:`tracking_store` and :func:`registry_store`).
:func:`dataset_input` turns a lakehouse dataset version into an MLflow dataset for
``mlflow.log_input``; :func:`import_runs` copies another MLflow store into the lakehouse. MLflow itself is
imported only when one of these is used (``pip install 'lakehouse[mlflow]'``). See docs/MLFLOW.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakehouse._optional import import_optional
from lakehouse.errors import LakehouseError
from lakehouse.integrations.mlflow.uri import SCHEME, root_from_uri, uri_for

if TYPE_CHECKING:
    from mlflow.data.meta_dataset import MetaDataset

    from lakehouse.client import Lakehouse
    from lakehouse.integrations.mlflow.importer import ImportReport
    from lakehouse.integrations.mlflow.registry import LakehouseRegistryStore
    from lakehouse.integrations.mlflow.store import LakehouseStore

__all__ = ["SCHEME", "dataset_input", "import_runs", "registry_store", "root_from_uri", "tracking_store", "uri_for"]


def _require_mlflow() -> None:
    import_optional("mlflow", extra="mlflow", purpose="the MLflow integration")


def tracking_store(store_uri: str, artifact_uri: str | None = None) -> LakehouseStore:
    """The tracking store for a ``lakehouse:`` URI (what MLflow's store registry calls)."""
    _require_mlflow()
    from lakehouse.integrations.mlflow._errors import to_mlflow
    from lakehouse.integrations.mlflow.store import LakehouseStore

    try:
        return LakehouseStore(store_uri, artifact_uri)
    except LakehouseError as e:
        raise to_mlflow(e) from e


def registry_store(store_uri: str, tracking_uri: str | None = None) -> LakehouseRegistryStore:
    """The model-registry store for a ``lakehouse:`` URI (what MLflow's registry store registry calls; it passes
    ``store_uri=`` and ``tracking_uri=`` by name)."""
    _require_mlflow()
    from lakehouse.integrations.mlflow._errors import to_mlflow
    from lakehouse.integrations.mlflow.registry import LakehouseRegistryStore

    try:
        return LakehouseRegistryStore(store_uri, tracking_uri)
    except LakehouseError as e:
        raise to_mlflow(e) from e


def dataset_input(lakehouse: Lakehouse, ref: str) -> MetaDataset:
    """An MLflow dataset for a lakehouse dataset version (``mlflow.log_input(dataset_input(lh, "mnist:v3"))``)."""
    _require_mlflow()
    from lakehouse.integrations.mlflow import inputs

    return inputs.dataset_input(lakehouse, ref)


def import_runs(source_uri: str, lakehouse: Lakehouse, **options: Any) -> ImportReport:
    """Copy experiments, runs (params, tags, metric histories) and logged models from any MLflow store (idempotent)."""
    _require_mlflow()
    from lakehouse.integrations.mlflow import importer

    return importer.import_runs(source_uri, lakehouse, **options)
