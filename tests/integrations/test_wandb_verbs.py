"""``import lakehouse.wandb as wandb``: W&B's logging verbs and step rules on lakehouse runs."""

from __future__ import annotations

from pathlib import Path

import pytest

import lakehouse
import lakehouse.wandb as wandb


def _points(lh: lakehouse.Lakehouse, run_id: str) -> list[tuple[str, int, float]]:
    frame = lh.metrics(run_id)
    return sorted((k, s, v) for k, s, v in frame.select("key", "step", "value").iter_rows())


def test_a_w_and_b_snippet_runs_unchanged_but_for_the_import(root: Path) -> None:
    run = wandb.init(
        project="vision",
        name="resnet",
        config={"lr": 0.1, "opt": {"name": "sgd"}},
        tags=["baseline"],
        group="g",
        job_type="train",
        root=root,
    )
    wandb.config.epochs = 3
    wandb.config["batch"] = 32
    wandb.config.update({"seed": 7})
    assert (wandb.config.lr, wandb.config["opt"], len(wandb.config)) == (0.1, {"name": "sgd"}, 5)
    for i in range(3):
        wandb.log({"loss": 1.0 / (i + 1)})
    wandb.log({"val": 0.5}, step=10)  # stays open until a later step
    wandb.log({"extra": 2.0}, commit=False)
    wandb.log({"acc": 0.9})  # commits step 10
    wandb.log({"a": 1.0}, commit=False)
    wandb.log({"b": 2.0}, commit=True)  # one row, step 11
    with pytest.warns(UserWarning, match="step 3 is lower than the current step 12"):
        wandb.log({"late": 1.0}, step=3)
    wandb.summary["best"] = 0.95
    assert wandb.summary["loss"] == pytest.approx(1 / 3)
    wandb.finish()

    lh = lakehouse.connect(root)
    info = lh.run(run.id)
    assert (info.name, info.experiment, info.status) == ("resnet", "vision", "FINISHED")
    assert info.params == {"lr": "0.1", "opt.name": "sgd", "epochs": "3", "batch": "32", "seed": "7"}
    assert info.tags["wandb.tags"] == "baseline"
    assert (info.tags["wandb.group"], info.tags["wandb.job_type"], info.tags["wandb.summary.best"]) == (
        "g",
        "train",
        "0.95",
    )
    assert _points(lh, run.id) == sorted(
        [("loss", 0, 1.0), ("loss", 1, 0.5), ("loss", 2, 1 / 3)]
        + [("val", 10, 0.5), ("extra", 10, 2.0), ("acc", 10, 0.9), ("a", 11, 1.0), ("b", 11, 2.0)]
    )
    assert lh.runs().height == 1


def test_resume_by_id_and_unsupported_calls(root: Path) -> None:
    first = wandb.init(project="p", id="fixed-id-1", root=root)
    wandb.log({"x": 1.0})
    wandb.finish()
    with pytest.raises(lakehouse.errors.InvalidArgument, match="exists already"):
        wandb.init(project="p", id="fixed-id-1", root=root)
    again = wandb.init(project="p", id="fixed-id-1", resume="allow", root=root)
    assert again.id == first.id == "fixed-id-1"
    wandb.finish(exit_code=1)
    assert lakehouse.connect(root).run("fixed-id-1").status == "FAILED"
    with pytest.raises(NotImplementedError, match=r"wandb\.link_artifact"):
        wandb.link_artifact("model", "registry/model")  # type: ignore[attr-defined]
    with pytest.raises(NotImplementedError, match=r"wandb\.Artifact\.add_reference"):
        wandb.Artifact("model", type="model").add_reference("s3://bucket/x")
    with pytest.raises(NotImplementedError, match=r"wandb\.define_metric"):
        wandb.define_metric("loss", summary="min")  # type: ignore[attr-defined]
    with pytest.raises(NotImplementedError, match=r"wandb\.init\(mode=\.\.\.\)"):
        wandb.init(project="p", mode="offline", root=root)
    with pytest.raises(NotImplementedError, match=r"wandb\.log before wandb\.init"):
        wandb.log({"x": 1.0})
