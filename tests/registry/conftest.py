"""Fixtures of the registry tests: a root with finished runs to register models from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

import lakehouse
from lakehouse import storage

CHILD = Path(__file__).with_name("child.py")


@dataclass(frozen=True)
class Trained:
    lh: lakehouse.Lakehouse
    first: str  # run ids
    second: str


@pytest.fixture
def trained(root: Path) -> Trained:
    return train(root)


def train(root: Path) -> Trained:
    """Two finished runs: the first trained on digits:v0, both logged params and an accuracy."""
    lh = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    lh.dataset("digits").write([{"x": 1}, {"x": 2}])
    with lh.start_run(experiment="train", name="first", params={"lr": 0.1}, inputs=["digits:v0"]) as run:
        run.log({"acc": 0.5}, step=0)
        run.log({"acc": 0.8}, step=1)
    with lh.start_run(experiment="train", name="second", params={"lr": 0.01}) as other:
        other.log({"acc": 0.9}, step=0)
    lh.flush()
    return Trained(lh, run.id, other.id)


def registry_state(lh: lakehouse.Lakehouse) -> tuple[int, int] | None:
    """(version, rows) of ``_catalog/models``: equal states mean nothing was written in between."""
    path = lh.layout.models
    if not storage.exists(path):
        return None
    return storage.latest_version(path), storage.scan(path).collect().height
