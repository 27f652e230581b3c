"""Real processes registering versions of one model and moving one alias at once: nothing is lost."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from lakehouse import storage
from lakehouse.query.events import in_order
from tests.registry.conftest import CHILD, Trained

PROCESSES = 4
EACH = 3


@pytest.mark.slow
def test_concurrent_registrations_and_alias_moves_are_all_kept(trained: Trained) -> None:
    lh = trained.lh
    gate = Path(lh.root) / "go"
    children = [
        subprocess.Popen(
            [sys.executable, str(CHILD), str(lh.root), trained.first, str(i), str(EACH), str(gate)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    time.sleep(1.0)  # let every child import lakehouse and wait at the gate, so their commits overlap
    gate.touch()
    got: list[int] = []
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        got.extend(int(n) for n in out.split())

    total = PROCESSES * EACH
    # Every registration got its own number, and the numbers are 1..total without gaps.
    assert sorted(got) == list(range(1, total + 1))
    versions = lh.model("clf").versions()
    assert [v.version for v in versions] == list(range(1, total + 1))
    assert len({v.source for v in versions}) == total  # each process's registrations, none overwritten
    # Every alias move is in the history, and the one applied last wins.
    history = lh.model("clf").alias_history("production")
    assert len(history) == total
    assert [c.change for c in history] == ["set"] + ["moved"] * (total - 1)
    assert sorted(c.reason or "" for c in history) == sorted(f"{i}-{k}" for i in range(PROCESSES) for k in range(EACH))
    moves = in_order(storage.scan(lh.layout.models).collect()).filter(pl.col("kind") == "alias_set")
    assert lh.model("clf").aliases() == {"production": moves.get_column("version").to_list()[-1]}
    assert history[-1].version == moves.get_column("version").to_list()[-1]
