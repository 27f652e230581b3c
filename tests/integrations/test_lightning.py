"""A real Lightning ``Trainer.fit`` of a tiny model on CPU, logged through LakehouseLogger."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as lp
import polars as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import lakehouse
from lakehouse.errors import InvalidArgument
from lakehouse.integrations.lightning import LakehouseLogger

# Lightning's advice for real workloads (more dataloader workers, fewer batches than log steps) is noise for a
# tiny CPU fit.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*does not have many workers.*",
    "ignore:.*number of training batches.*is smaller than the logging interval.*",
)


class Regressor(lp.LightningModule):
    def __init__(self, lr: float = 0.05, hidden: int = 8, schedule: dict[str, float] | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(3, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], index: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], index: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], index: int) -> None:
        x, y = batch
        self.log("test_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


class Boom(Regressor):
    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], index: int) -> torch.Tensor:
        if self.global_step == 3:
            raise RuntimeError("exploded")
        return super().training_step(batch, index)


def _loader() -> DataLoader[tuple[torch.Tensor, ...]]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=generator)
    return DataLoader(TensorDataset(x, x.sum(dim=1, keepdim=True)), batch_size=8)


def _trainer(logger: LakehouseLogger, epochs: int = 2) -> lp.Trainer:
    return lp.Trainer(
        max_epochs=epochs,
        logger=logger,
        accelerator="cpu",
        devices=1,
        log_every_n_steps=2,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


def test_fit_records_hyperparameters_metrics_and_finished_status(root: Path) -> None:
    lh = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    lh.dataset("toy").write(pl.DataFrame({"x": [1]}))
    logger = LakehouseLogger(lh, experiment="lightning", run_name="tiny", inputs=["toy:v0"], tags={"kind": "test"})
    torch.manual_seed(0)
    _trainer(logger).fit(Regressor(schedule={"warmup": 0.1}), _loader(), _loader())
    run_id = logger.version
    info = lh.run(run_id)
    assert (info.name, info.experiment, info.status, info.job_type) == ("tiny", "lightning", "FINISHED", "train")
    assert info.params == {"lr": "0.05", "hidden": "8", "schedule.warmup": "0.1"}
    assert info.tags == {"kind": "test"}
    assert [i.version_ref for i in info.inputs] == ["toy:v0"]
    points = lh.metrics(run_id)
    keys = set(points.get_column("key"))
    assert {"train_loss_step", "train_loss_epoch", "val_loss", "epoch"} <= keys
    steps = points.filter(pl.col("key") == "train_loss_step").get_column("step").to_list()
    assert steps == [1, 3, 5, 7, 9, 11, 13, 15]  # every 2nd of 16 global steps
    assert points.filter(pl.col("key") == "val_loss").height == 2  # one per epoch
    assert info.metrics["train_loss_epoch"].last < info.metrics["train_loss_epoch"].max


def test_test_after_fit_resumes_the_run(root: Path) -> None:
    lh = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    logger = LakehouseLogger(lh, experiment="lightning")
    trainer = _trainer(logger, epochs=1)
    model = Regressor()
    trainer.fit(model, _loader(), _loader())
    trainer.test(model, _loader(), verbose=False)
    info = lh.run(logger.version)
    assert info.status == "FINISHED"
    assert "test_loss" in info.metrics
    assert lh.runs().height == 1


def test_an_exception_in_training_marks_the_run_failed(root: Path) -> None:
    lh = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    logger = LakehouseLogger(lh, experiment="lightning")
    with pytest.raises(RuntimeError, match="exploded"):
        _trainer(logger).fit(Boom(), _loader(), _loader())
    info = lh.run(logger.version)
    assert info.status == "FAILED"
    assert info.metrics["train_loss_step"].last_step == 1  # what was logged before the failure is kept


def test_logger_into_an_existing_run_does_not_finish_it(root: Path) -> None:
    lh = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    with lh.start_run(experiment="mine") as run:
        logger = LakehouseLogger(run=run)
        _trainer(logger, epochs=1).fit(Regressor(), _loader(), _loader())
        assert run.active
        assert logger.version == run.id
        assert logger.name == "mine"
        assert logger.experiment is run
    assert lh.run(run.id).status == "FINISHED"
    assert "train_loss_epoch" in lh.run(run.id).metrics


def test_logger_arguments_are_checked() -> None:
    with pytest.raises(InvalidArgument, match="exactly one of"):
        LakehouseLogger()


def test_log_model_logs_the_best_and_last_checkpoints(root: Path, tmp_path: Path) -> None:
    import json

    lh = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    logger = LakehouseLogger(lh, experiment="lightning", log_model="both")
    checkpoint = lp.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val_loss", save_last=True)
    trainer = lp.Trainer(
        max_epochs=3,
        logger=logger,
        accelerator="cpu",
        devices=1,
        log_every_n_steps=2,
        callbacks=[checkpoint],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    torch.manual_seed(0)
    trainer.fit(Regressor(), _loader(), _loader())
    run_id = logger.version
    assert lh.artifacts(run_id).get_column("path").to_list() == ["checkpoints/best.ckpt", "checkpoints/last.ckpt"]
    best = json.loads(lh.run(run_id).tags["lakehouse.model.best"])
    assert best["monitor"] == "val_loss"
    assert best["value"] == pytest.approx(float(checkpoint.best_model_score))
    assert lh.artifact(run_id, "checkpoints/best.ckpt").read_bytes() == Path(checkpoint.best_model_path).read_bytes()
    restored = Regressor.load_from_checkpoint(lh.artifact(run_id, "checkpoints/last.ckpt").download(tmp_path / "dl"))
    for a, b in zip(restored.parameters(), trainer.lightning_module.parameters(), strict=True):
        assert torch.equal(a, b)
