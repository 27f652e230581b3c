"""A small real lakehouse for the SQL tests: the app tests' datasets (digits in three versions with tags,
labels) and runs (two experiments, params, tags, inputs, curves), every run finished; two runs' artifacts (one
path logged then deleted) and two registered models (``digits-classifier`` with two versions and a moved
``production`` alias, ``digits-tiny`` with one version and no alias)."""

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
    lh = lakehouse.connect(root)
    lh.flush()
    add_artifacts_and_models(lh, runs.ids, tmp_path_factory.mktemp("sql-files"))
    return Demo(root, runs.ids)


def add_artifacts_and_models(lh: lakehouse.Lakehouse, ids: dict[str, str], files: Path) -> None:
    """Artifacts of ``mlp-slow`` and ``cnn-base`` (``notes.txt`` of mlp-slow deleted), then the two models."""
    (files / "model.bin").write_bytes(b"weights" * 10)
    (files / "notes.txt").write_text("first try")
    (files / "cnn.bin").write_bytes(b"filters" * 3)
    with lh.start_run(resume=ids["mlp-slow"]) as run:
        run.log_artifact(files / "model.bin", name="model/model.bin")
        run.log_artifact(files / "notes.txt")
    with lh.start_run(resume=ids["cnn-base"]) as run:
        run.log_artifact(files / "cnn.bin", name="model/model.bin")
    lh.delete_artifact(ids["mlp-slow"], "notes.txt")
    lh.register_model("digits-classifier", run=ids["mlp-slow"], path="model", description="baseline")
    lh.register_model("digits-classifier", run=ids["cnn-base"], path="model", tags={"stage": "candidate"})
    lh.register_model("digits-tiny", run=ids["mlp-fast"], path="model")
    model = lh.model("digits-classifier")
    model.set_alias("production", 1, reason="first release")
    model.set_alias("staging", 2)
    model.set_alias("production", 2, reason="beats v1")
    model.delete_alias("staging", reason="promoted")
    model.set_tag("team", "vision")


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time: equal before and after means unchanged."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}
