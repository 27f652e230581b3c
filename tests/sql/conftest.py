"""A small real lakehouse for the SQL tests: the app tests' datasets (digits in three versions with tags,
labels) and runs (two experiments, params, tags, inputs, curves), every run finished."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

import lakehouse
from tests.app.conftest import build_datasets, build_runs


@dataclass(frozen=True)
class Demo:
    root: Path
    ids: dict[str, str]  # run ids by run name

    @property
    def lh(self) -> lakehouse.Lakehouse:
        return lakehouse.connect(self.root)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    root = tmp_path_factory.mktemp("sql-demo") / "lh"
    build_datasets(root)
    runs = build_runs(root)
    runs.live.finish()
    lakehouse.connect(root).flush()
    return Demo(root, runs.ids)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time: equal before and after means unchanged."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}
