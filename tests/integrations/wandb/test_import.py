"""``lakehouse import-wandb``: runs the real ``wandb`` client wrote offline, every point at its step, once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import lakehouse
from lakehouse.cli import main
from lakehouse.errors import InvalidArgument
from lakehouse.integrations.wandb import import_offline
from tests.integrations.conftest import tracking_state

HERE = Path(__file__).parent
REPO = HERE.parents[2]
# The real client writes the runs in a subprocess (its service, a Lightning fit): tens of seconds on a busy machine.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("wandb-runs")
    done = subprocess.run(
        [sys.executable, str(HERE / "write_offline.py"), str(folder)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
        timeout=300,
    )
    written = json.loads(done.stdout.strip().splitlines()[-1])
    return folder, {
        **written["ids"],
        "lightning_losses": written["lightning_losses"],
        "keras_losses": written["keras_losses"],
    }


def test_offline_runs_import_with_config_history_summary_and_state(
    root: Path, offline: tuple[Path, dict[str, Any]]
) -> None:
    folder, ids = offline
    lh = lakehouse.connect(root)
    report = import_offline(folder / "wandb", lh)
    assert (report.runs_created, report.skipped) == (4, 1)  # the text value is not a metric point
    info = lh.run(ids["finished"])
    assert (info.name, info.experiment, info.status) == ("resnet-a", "vision", "FINISHED")
    assert info.params == {
        "lr": "0.1",
        "opt.name": "sgd",
        "opt.momentum": "0.9",
        "layers": "[1, 2]",
        "batch": "32",
    }
    tags = info.tags
    assert (tags["wandb.tags"], tags["wandb.group"], tags["wandb.job_type"]) == ("baseline,cpu", "sweep-1", "train")
    assert (tags["wandb.notes"], tags["wandb.state"], tags["wandb.summary.best_acc"]) == (
        "first try",
        "finished",
        "0.95",
    )
    points = lh.metrics(ids["finished"])
    loss = points.filter(points["key"] == "loss")
    assert loss.get_column("step").to_list() == list(range(20))
    assert loss.get_column("value").to_list() == [1.0 / (i + 1) for i in range(20)]
    acc = points.filter(points["key"] == "acc").get_column("value").to_list()
    assert acc == [i / 20 for i in range(20)]
    rest = {(k, s) for k, s in points.filter(~points["key"].is_in(["loss", "acc"])).select("key", "step").iter_rows()}
    # W&B keeps step=25 open until a later step: the commit=False value and the next log() join it.
    assert rest == {("val_loss", 25), ("partial", 25), ("lr_now", 25)}
    fit = lh.run(ids["lightning"])
    assert (fit.name, fit.experiment, fit.status, fit.params) == ("tiny", "lit", "FINISHED", {"lr": "0.05"})
    losses = lh.metrics(ids["lightning"], keys="train_loss")
    assert losses.get_column("value").to_list() == pytest.approx(ids["lightning_losses"], rel=1e-6)
    assert losses.height == 16  # every step of the 2 x 8 batches
    keras_run = lh.run(ids["keras"])
    assert (keras_run.name, keras_run.experiment, keras_run.status) == ("mlp", "keras", "FINISHED")
    keras_loss = lh.metrics(ids["keras"], keys="loss")
    assert keras_loss.get_column("step").to_list() == [0, 1, 2]
    assert keras_loss.get_column("value").to_list() == pytest.approx(ids["keras_losses"], rel=1e-6)
    broken = lh.run(ids["failed"])
    assert (broken.status, broken.tags["wandb.state"]) == ("FAILED", "failed")

    before = tracking_state(root)
    again = import_offline(folder, lh)  # the folder holding wandb/ works too
    assert (again.runs_created, again.runs_updated, again.runs_unchanged, again.points) == (0, 0, 4, 0)
    assert tracking_state(root) == before


def test_unknown_format_and_bad_paths_are_refused_and_change_nothing(
    root: Path, tmp_path: Path, offline: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, ids = offline
    lh = lakehouse.connect(root)
    lh.start_run(experiment="x").finish()
    before = tracking_state(root)
    copy = tmp_path / "copy"
    shutil.copytree(folder / "wandb", copy / "wandb", symlinks=True)
    (run_file,) = next(copy.glob("wandb/offline-run-*")).glob("run-*.wandb")
    data = bytearray(run_file.read_bytes())
    data[6] = 9  # a format version this reader does not know
    run_file.write_bytes(bytes(data))
    cases = {
        str(copy): "format version 9",
        str(tmp_path / "nowhere"): "does not exist",
        str(root): "holds no W&B offline runs",
    }
    for path, words in cases.items():
        with pytest.raises(InvalidArgument, match=words):
            import_offline(path, lh)
        assert main(["--root", str(root), "import-wandb", path]) == 1
        err = capsys.readouterr().err
        assert words in err
        assert "Traceback" not in err
    assert tracking_state(root) == before
