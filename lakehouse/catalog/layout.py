"""The folder layout under a lakehouse root: one place that knows every table's location."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lakehouse.location import Location
from lakehouse.objects import ObjectStore
from lakehouse.refs import validate_name
from lakehouse.state import RootState, of_root


@dataclass(frozen=True)
class Layout:
    """Locations of every table under ``root`` (a local folder or a bucket prefix). Names are validated before
    they become locations.

    ``storage_options`` (see :mod:`lakehouse.object_storage`): what every engine is handed for the root's tables
    and files; registered with the root's state, where :mod:`lakehouse.storage` and :mod:`lakehouse.fileio` find
    them. None leaves what the root was opened with before.
    """

    root: Location
    storage_options: Mapping[str, str] | None = field(default=None, repr=False, compare=False)

    def __init__(self, root: str | Path | Location, storage_options: Mapping[str, str] | None = None) -> None:
        object.__setattr__(self, "root", Location.of(root))
        object.__setattr__(self, "storage_options", storage_options)
        # Registered, so that code holding only a table location finds the root's state (and its options).
        of_root(str(self.root), storage_options=storage_options)

    @property
    def state(self) -> RootState:
        """What this process keeps in memory for the root (caches, writers); see :mod:`lakehouse.state`."""
        return of_root(str(self.root))

    @property
    def datasets_dir(self) -> Location:
        return self.root / "datasets"

    def dataset(self, name: str) -> Location:
        return self.datasets_dir / validate_name(name)

    def quarantine(self, name: str) -> Location:
        return self.root / "_quarantine" / validate_name(name)

    @property
    def datasets_catalog(self) -> Location:
        return self.root / "_catalog" / "datasets"

    @property
    def tags(self) -> Location:
        return self.root / "_catalog" / "tags"

    @property
    def models(self) -> Location:
        """The model registry: registered models, versions, aliases and tags as append-only events."""
        return self.root / "_catalog" / "models"

    @property
    def runs(self) -> Location:
        return self.root / "tracking" / "runs"

    @property
    def inputs(self) -> Location:
        return self.root / "tracking" / "inputs"

    @property
    def metrics(self) -> Location:
        return self.root / "tracking" / "metrics"

    @property
    def metric_summaries(self) -> Location:
        return self.root / "tracking" / "metric_summaries"

    @property
    def experiments(self) -> Location:
        """The experiment registry (ids, names, lifecycle, tags), written synchronously, not by the writer."""
        return self.root / "tracking" / "experiments"

    @property
    def logged_models(self) -> Location:
        """MLflow 3 logged models (ids, status, tags, params, the runs that output them), written synchronously."""
        return self.root / "tracking" / "logged_models"

    @property
    def artifacts(self) -> Location:
        """The artifacts index: which file (object digest) each run holds at each path, as events."""
        return self.root / "tracking" / "artifacts"

    @property
    def wandb_artifacts(self) -> Location:
        """Versions and aliases of W&B-style artifacts (``lakehouse.wandb``), as events; the files are run artifacts."""
        return self.root / "tracking" / "wandb_artifacts"

    @property
    def objects(self) -> ObjectStore:
        """The content-addressed object store under the root (``_objects/sha256/...``)."""
        return ObjectStore(str(self.root))

    @property
    def artifacts_dir(self) -> Location:
        """Default home of run artifacts logged through MLflow (``<root>/_artifacts/<experiment id>/...``)."""
        return self.root / "_artifacts"

    @property
    def tracking_tables(self) -> dict[str, Location]:
        """Every tracking table by short name, in the order the metrics writer commits them."""
        return {
            "runs": self.runs,
            "inputs": self.inputs,
            "metric_summaries": self.metric_summaries,
            "metrics": self.metrics,
        }

    @property
    def synchronous_tables(self) -> dict[str, Location]:
        """The tracking tables written synchronously (not by the metrics writer), by short name."""
        return {
            "experiments": self.experiments,
            "logged_models": self.logged_models,
            "artifacts": self.artifacts,
            "wandb_artifacts": self.wandb_artifacts,
        }

    def default_spool(self, host: str) -> Path:
        """Where a machine's metrics writers keep uncommitted segments unless ``spool_dir`` says otherwise.

        Under a local root, in the root (``_spool/<host>``); a bucket root's spool stays on local disk, under
        ``$XDG_CACHE_HOME/lakehouse/spool/<hash of the root's URI>/<host>`` (``~/.cache`` without the variable): a
        spool is appended to many times a second, and must survive the process for recovery to find it.
        """
        local = self.root.local
        if local is not None:
            return local / "_spool" / host
        digest = hashlib.sha256(self.root.uri.encode()).hexdigest()[:16]
        cache = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser()
        return cache / "lakehouse" / "spool" / digest / host
