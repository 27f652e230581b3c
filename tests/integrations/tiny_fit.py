"""A tiny Lightning fit (2 epochs x 8 batches on CPU) that keeps the loss it logs at each step, for any logger."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as lp
import torch
from torch.utils.data import DataLoader, TensorDataset


class Tiny(lp.LightningModule):
    def __init__(self, lr: float = 0.05) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Linear(3, 1)
        self.losses: list[float] = []

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], index: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        self.losses.append(float(loss.detach()))
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def fit(logger: Any) -> list[float]:
    """Fit :class:`Tiny` logging every step through ``logger``; returns the losses it logged, in step order."""
    x = torch.randn(32, 3, generator=torch.Generator().manual_seed(0))
    loader = DataLoader(TensorDataset(x, x.sum(dim=1, keepdim=True)), batch_size=4)
    module = Tiny()
    trainer = lp.Trainer(
        max_epochs=2,
        logger=logger,
        log_every_n_steps=1,
        accelerator="cpu",
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, loader)
    return module.losses
