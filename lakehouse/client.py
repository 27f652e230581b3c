"""The entry point: ``lakehouse.connect(root)`` returns a :class:`Lakehouse`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from lakehouse import storage
from lakehouse.catalog import registry
from lakehouse.catalog.layout import Layout
from lakehouse.config import Settings, load_settings
from lakehouse.datasets.dataset import Dataset, default_actor
from lakehouse.datasets.versions import DatasetInfo, DatasetVersion
from lakehouse.refs import Ref, parse_ref


class Lakehouse:
    """All tables under one root: datasets, their catalog, and (in ``tracking/``) runs and metrics."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = Path(settings.root).expanduser().absolute()
        self.layout = Layout(self.root)
        self.actor = settings.actor or default_actor()

    def __repr__(self) -> str:
        return f"Lakehouse(root={str(self.root)!r})"

    # --- datasets ----------------------------------------------------------------------------------------

    def dataset(self, name: str) -> Dataset:
        """A handle on dataset ``name`` (created by its first write)."""
        return Dataset(self, name)

    def datasets(self) -> list[DatasetInfo]:
        """Every dataset with its latest version, row count, last writer and live tags, by name."""
        out = []
        for name in registry.dataset_names(self.layout):
            ds = self.dataset(name)
            latest = ds.version()
            out.append(
                DatasetInfo(
                    name=name,
                    latest_version=latest.version,
                    num_rows=latest.num_rows,
                    updated_at=latest.created_at,
                    last_writer=latest.created_by,
                    description=_latest_description(ds, latest),
                    tags=ds.tags(),
                )
            )
        return out

    def resolve(self, ref: str | Ref) -> DatasetVersion:
        """The concrete version a reference names (``name``, ``name:v3``, ``name:prod``, ``name@time``)."""
        parsed = parse_ref(ref) if isinstance(ref, str) else ref
        ds = self.dataset(parsed.name)
        return ds.version(ds.resolve(parsed.version, tag=parsed.tag, as_of=parsed.as_of))

    def scan(self, ref: str | Ref) -> pl.LazyFrame:
        """A lazy polars scan of the version a reference names."""
        parsed = parse_ref(ref) if isinstance(ref, str) else ref
        return self.dataset(parsed.name).scan(parsed.version, tag=parsed.tag, as_of=parsed.as_of)

    def read(self, ref: str | Ref, *, columns: list[str] | None = None) -> pl.DataFrame:
        """Read the version a reference names into a polars DataFrame."""
        parsed = parse_ref(ref) if isinstance(ref, str) else ref
        return self.dataset(parsed.name).read(parsed.version, tag=parsed.tag, as_of=parsed.as_of, columns=columns)

    # --- change detection --------------------------------------------------------------------------------

    def table_versions(self) -> dict[str, int]:
        """The current version of every table under the root, keyed by location (``datasets/mnist``...).

        Cheap: it lists the tables' log folders without loading them. Any change of the result means new
        commits, so readers that cache query results (the app) key their caches on it.
        """
        found: dict[str, int] = {}
        tables = [self.layout.dataset_registry, self.layout.tags, self.layout.runs, self.layout.inputs]
        tables.append(self.layout.metrics)
        if self.layout.datasets_dir.is_dir():
            tables.extend(sorted(p for p in self.layout.datasets_dir.iterdir() if p.is_dir()))
        for path in tables:
            version = storage.peek_version(path)
            if version is not None:
                found[path.relative_to(self.root).as_posix()] = version
        return found


def _latest_description(ds: Dataset, latest: DatasetVersion) -> str | None:
    if latest.description:
        return latest.description
    for version in ds.history(limit=20):
        if version.description:
            return version.description
    return None


def connect(root: str | Path | None = None, **settings: Any) -> Lakehouse:
    """Open the lakehouse at ``root`` (default: ``LAKEHOUSE_ROOT``, then ``conf/lakehouse.toml``).

    Other keyword arguments override settings (see :class:`lakehouse.config.Settings`).
    """
    return Lakehouse(load_settings(root=root, **settings))
