"""The folder layout under a lakehouse root: one place that knows every table's location."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lakehouse.objects import ObjectStore
from lakehouse.refs import validate_name
from lakehouse.state import RootState, of_root


@dataclass(frozen=True)
class Layout:
    """Paths of every table under ``root``. Names are validated before they become paths."""

    root: Path

    def __post_init__(self) -> None:
        of_root(self.root)  # registered, so that code holding only a table path finds the root's state

    @property
    def state(self) -> RootState:
        """What this process keeps in memory for the root (caches, writers); see :mod:`lakehouse.state`."""
        return of_root(self.root)

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    def dataset(self, name: str) -> Path:
        return self.datasets_dir / validate_name(name)

    def quarantine(self, name: str) -> Path:
        return self.root / "_quarantine" / validate_name(name)

    @property
    def datasets_catalog(self) -> Path:
        return self.root / "_catalog" / "datasets"

    @property
    def tags(self) -> Path:
        return self.root / "_catalog" / "tags"

    @property
    def models(self) -> Path:
        """The model registry: registered models, versions, aliases and tags as append-only events."""
        return self.root / "_catalog" / "models"

    @property
    def runs(self) -> Path:
        return self.root / "tracking" / "runs"

    @property
    def inputs(self) -> Path:
        return self.root / "tracking" / "inputs"

    @property
    def metrics(self) -> Path:
        return self.root / "tracking" / "metrics"

    @property
    def metric_summaries(self) -> Path:
        return self.root / "tracking" / "metric_summaries"

    @property
    def experiments(self) -> Path:
        """The experiment registry (ids, names, lifecycle, tags), written synchronously, not by the writer."""
        return self.root / "tracking" / "experiments"

    @property
    def logged_models(self) -> Path:
        """MLflow 3 logged models (ids, status, tags, params, the runs that output them), written synchronously."""
        return self.root / "tracking" / "logged_models"

    @property
    def artifacts(self) -> Path:
        """The artifacts index: which file (object digest) each run holds at each path, as events."""
        return self.root / "tracking" / "artifacts"

    @property
    def wandb_artifacts(self) -> Path:
        """Versions and aliases of W&B-style artifacts (``lakehouse.wandb``), as events; the files are run artifacts."""
        return self.root / "tracking" / "wandb_artifacts"

    @property
    def objects(self) -> ObjectStore:
        """The content-addressed object store under the root (``_objects/sha256/...``)."""
        return ObjectStore(self.root)

    @property
    def artifacts_dir(self) -> Path:
        """Default home of run artifacts logged through MLflow (``<root>/_artifacts/<experiment id>/...``)."""
        return self.root / "_artifacts"

    @property
    def tracking_tables(self) -> dict[str, Path]:
        """Every tracking table by short name, in the order the metrics writer commits them."""
        return {
            "runs": self.runs,
            "inputs": self.inputs,
            "metric_summaries": self.metric_summaries,
            "metrics": self.metrics,
        }

    @property
    def synchronous_tables(self) -> dict[str, Path]:
        """The tracking tables written synchronously (not by the metrics writer), by short name."""
        return {
            "experiments": self.experiments,
            "logged_models": self.logged_models,
            "artifacts": self.artifacts,
            "wandb_artifacts": self.wandb_artifacts,
        }

    def default_spool(self, host: str) -> Path:
        """Where a machine's metrics writers keep uncommitted segments unless ``spool_dir`` says otherwise."""
        return self.root / "_spool" / host
