"""``lakehouse import-tensorboard``: real SummaryWriter / Lightning log dirs, every point exactly once."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.tensorboard import SummaryWriter

import lakehouse
from lakehouse.cli import main
from lakehouse.errors import InvalidArgument
from lakehouse.integrations.tensorboard import follow_logdir, import_logdir
from lakehouse.integrations.tensorboard.records import frame
from tests.integrations.conftest import tracking_state
from tests.integrations.tiny_fit import fit

T0 = 1_700_000_000.0
# Lightning's advice for real workloads (more dataloader workers) is noise for a tiny CPU fit.
pytestmark = pytest.mark.filterwarnings("ignore:.*does not have many workers.*")


def _f32(x: float) -> float:
    return float(np.float32(x))


def _write(folder: Path, steps: range, *, new_style: bool = False) -> list[tuple[str, int, float, float]]:
    """Scalars of two tags at ``steps`` with given wall times; returns what was logged (key, step, time, value)."""
    logged = []
    with SummaryWriter(str(folder)) as writer:
        for step in steps:
            for key, value in (("loss", 1.0 / (step + 1)), ("acc/top1", step * 0.01)):
                wall = T0 + step + 0.25
                writer.add_scalar(key, value, step, walltime=wall, new_style=new_style)
                logged.append((key, step, wall, _f32(value)))
    return logged


def _points(lh: lakehouse.Lakehouse, run_id: str) -> list[tuple[str, int, float, float]]:
    frame = lh.metrics(run_id)
    return sorted(
        (k, s, t.timestamp(), v) for k, s, t, v in frame.select("key", "step", "timestamp", "value").iter_rows()
    )


def _run_ids(lh: lakehouse.Lakehouse) -> dict[str, str]:
    return dict(lh.runs().select("name", "run_id").iter_rows())


def test_summary_writer_runs_import_step_for_step_with_hparams_and_skipped_kinds(root: Path, tmp_path: Path) -> None:
    logdir = tmp_path / "logs"
    first = _write(logdir / "a", range(0, 300))
    tensors = _write(logdir / "b" / "tf2", range(5, 40), new_style=True)  # TF2 tensor scalars
    with SummaryWriter(str(logdir / "a")) as writer:
        writer.add_histogram("weights", np.arange(10.0), 1, walltime=T0)
        writer.add_text("notes", "hello", 1, walltime=T0)
        writer.add_image("picture", np.zeros((3, 4, 4)), 1, walltime=T0)
        writer.add_hparams({"lr": 0.1, "layers": 3, "opt": "sgd", "nesterov": True}, {"hp/score": 0.5}, run_name="hp")
    lh = lakehouse.connect(root)
    report = import_logdir(logdir, lh, experiment="tb")
    assert (report.runs_created, report.points, report.points_present) == (3, 600 + 70 + 1, 0)
    assert report.skipped == {"histograms": 1, "text": 1, "images": 1}
    assert report.stopped == []
    ids = _run_ids(lh)
    assert set(ids) == {"a", "b/tf2", "a/hp"}
    assert _points(lh, ids["a"]) == sorted(first)
    assert _points(lh, ids["b/tf2"]) == sorted(tensors)
    hp = lh.run(ids["a/hp"])
    assert hp.params == {"lr": "0.1", "layers": "3", "opt": "sgd", "nesterov": "1"}  # torch writes a bool as a number
    assert hp.tags["tensorboard.hparam_metrics"] == "hp/score"
    assert [p[0] for p in _points(lh, ids["a/hp"])] == ["hp/score"]
    info = lh.run(ids["a"])
    assert (info.experiment, info.status, info.tags["tensorboard.run"]) == ("tb", "FINISHED", "a")
    assert info.start_time.timestamp() == pytest.approx(T0 + 0.25)
    assert info.end_time.timestamp() == pytest.approx(T0 + 299.25)

    before = tracking_state(root)
    again = import_logdir(logdir, lh, experiment="tb")
    assert (again.runs_created, again.runs_updated, again.runs_unchanged, again.points) == (0, 0, 3, 0)
    assert tracking_state(root) == before  # a second import commits nothing

    more = _write(logdir / "a", range(300, 350))  # a new file in the run folder
    third = import_logdir(logdir, lh, experiment="tb")
    assert (third.runs_created, third.runs_updated, third.points) == (0, 1, 100)
    assert _points(lh, ids["a"]) == sorted(first + more)
    assert lh.runs().height == 3


def test_lightning_tensorboard_logger_fit_imports_what_was_logged(root: Path, tmp_path: Path) -> None:
    logged = [_f32(v) for v in fit(TensorBoardLogger(str(tmp_path / "tb"), name="tiny"))]
    lh = lakehouse.connect(root)
    report = import_logdir(tmp_path / "tb", lh)
    assert report.runs_created == 1
    run_id = _run_ids(lh)["tiny/version_0"]
    info = lh.run(run_id)
    assert info.experiment == "tb"
    assert info.params["lr"] == "0.05"
    losses = lh.metrics(run_id, keys="train_loss")
    assert losses.get_column("value").to_list() == logged  # in step order, every one of the 16 steps
    assert losses.get_column("step").to_list() == sorted(set(losses.get_column("step").to_list()))


def test_follow_of_a_log_dir_being_written_ends_with_every_point_once(root: Path, tmp_path: Path) -> None:
    logdir = tmp_path / "live"
    started = threading.Event()

    def train() -> None:
        with SummaryWriter(str(logdir / "run"), flush_secs=1) as writer:
            for step in range(400):
                writer.add_scalar("loss", float(step), step)
                if step % 40 == 0:
                    writer.flush()
                    started.set()
                    threading.Event().wait(0.05)

    writer = threading.Thread(target=train)
    writer.start()
    assert started.wait(30)
    lh = lakehouse.connect(root)
    passes = []
    report = follow_logdir(logdir, lh, interval=0.1, max_seconds=1.5, on_pass=passes.append)
    writer.join()
    report = follow_logdir(logdir, lh, interval=0.1, max_seconds=0)  # after the writer closed its file
    run_id = _run_ids(lh)["run"]
    points = lh.metrics(run_id)
    assert points.height == 400
    assert points.get_column("step").to_list() == list(range(400))
    assert lh.run(run_id).status == "FINISHED"
    assert len(passes) >= 2
    assert report.stopped == []


def test_truncated_and_corrupt_files_import_up_to_the_damage(root: Path, tmp_path: Path) -> None:
    source = tmp_path / "source"
    logged = _write(source / "run", range(100))
    (event_file,) = (source / "run").iterdir()
    data = event_file.read_bytes()
    logdir = tmp_path / "logs"
    (logdir / "cut").mkdir(parents=True)
    (logdir / "cut" / event_file.name).write_bytes(data[: len(data) // 2])
    damaged = bytearray(data)
    damaged[len(data) // 2] ^= 0xFF
    (logdir / "flipped").mkdir()
    (logdir / "flipped" / event_file.name).write_bytes(bytes(damaged))
    framed = frame(data)
    damaged = bytearray(data)
    damaged[int(framed.starts[60] + framed.lengths[60]) - 2] ^= 0xFF  # inside the 60th record's value
    (logdir / "value").mkdir()
    (logdir / "value" / event_file.name).write_bytes(bytes(damaged))
    lh = lakehouse.connect(root)
    report = import_logdir(logdir, lh)
    stops = {s["file"].split("/")[0]: s for s in report.stopped}
    assert set(stops) == {"cut", "flipped", "value"}
    assert "fails its checksum" in stops["value"]["reason"]
    assert stops["value"]["offset"] == framed.starts[60] - 12
    assert "cut short" in stops["cut"]["reason"]
    assert "corrupt" in stops["flipped"]["reason"]
    ids = _run_ids(lh)
    assert len(_points(lh, ids["value"])) == 59  # records 1..59 (the first is the file's version)
    for name in ("cut", "flipped", "value"):
        points = _points(lh, ids[name])
        assert 0 < len(points) < len(logged)
        assert points == sorted(logged[: len(points)])  # a prefix: every record before the damage
        assert stops[name]["offset"] < len(data) // 2 + 1
    # The cut file grows to its whole length (a writer that went on): the next import reads the rest.
    (logdir / "cut" / event_file.name).write_bytes(data)
    import_logdir(logdir, lh)
    assert _points(lh, ids["cut"]) == sorted(logged)


def test_bad_input_is_one_line_and_changes_nothing(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logdir = tmp_path / "logs"
    _write(logdir / "good", range(3))
    lh = lakehouse.connect(root)
    lh.start_run(experiment="x").finish()
    before = tracking_state(root)
    empty = tmp_path / "empty"
    empty.mkdir()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    (logdir / "bad").mkdir()
    os.symlink(tmp_path / "missing", logdir / "bad" / "events.out.tfevents.1.host")  # cannot be read
    cases = {
        str(tmp_path / "nowhere"): "does not exist",
        str(empty): "is not a TensorBoard log dir",
        str(a_file): "is a file",
        str(logdir): "cannot read the event file",
    }
    for path, words in cases.items():
        with pytest.raises(InvalidArgument, match=words):
            import_logdir(path, lh)
        code = main(["--root", str(root), "import-tensorboard", path])
        err = capsys.readouterr().err
        assert code == 1
        assert words in err
        assert "Traceback" not in err
    assert tracking_state(root) == before
    os.remove(logdir / "bad" / "events.out.tfevents.1.host")
    shutil.rmtree(logdir / "bad")
    assert main(["--root", str(root), "import-tensorboard", str(logdir), "--json"]) == 0
    assert '"points": 6' in capsys.readouterr().out
