"""The entry point: ``lakehouse.connect(root)`` returns a :class:`Lakehouse`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

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
        """Every dataset, by name, with its latest version, row count, live tags, and the time and author of
        its newest data-changing version (vacuum and optimize commits are maintenance, not updates)."""
        return [self.dataset(name).info() for name in registry.dataset_names(self.layout)]

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


def connect(root: str | Path | None = None, **settings: Any) -> Lakehouse:
    """Open the lakehouse at ``root`` (default: ``LAKEHOUSE_ROOT``, then ``conf/lakehouse.toml``).

    Other keyword arguments override settings (see :class:`lakehouse.config.Settings`).
    """
    return Lakehouse(load_settings(root=root, **settings))
