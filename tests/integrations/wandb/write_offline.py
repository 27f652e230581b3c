"""Write W&B offline runs with the real client (run as a script: the client starts its own service).

Three runs: a loop of ``wandb.log`` calls, a run that fails, and a Lightning fit logged by ``WandbLogger``. The
last line printed is JSON: the runs' ids and the losses the Lightning module computed, step by step.
"""

from __future__ import annotations

import json
import os
import sys

os.environ["WANDB_MODE"] = "offline"
os.environ["WANDB_SILENT"] = "true"

import warnings  # noqa: E402

import wandb  # noqa: E402
from lightning.pytorch.loggers import WandbLogger  # noqa: E402

from tests.integrations.tiny_fit import fit  # noqa: E402

# Lightning's advice for real workloads (more dataloader workers) is noise for a tiny CPU fit.
warnings.filterwarnings("ignore", message=".*does not have many workers.*")


def lightning_fit(folder: str) -> tuple[str, list[float]]:
    logger = WandbLogger(project="lit", name="tiny", save_dir=folder, offline=True)
    losses = fit(logger)
    run_id = logger.experiment.id
    wandb.finish()
    return run_id, losses


def main(folder: str) -> None:
    run = wandb.init(
        project="vision",
        name="resnet-a",
        config={"lr": 0.1, "opt": {"name": "sgd", "momentum": 0.9}, "layers": [1, 2]},
        tags=["baseline", "cpu"],
        group="sweep-1",
        job_type="train",
        notes="first try",
        dir=folder,
    )
    run.config.update({"batch": 32})
    for i in range(20):
        run.log({"loss": 1.0 / (i + 1), "acc": i / 20})
    run.log({"val_loss": 0.5}, step=25)
    run.log({"partial": 1.0}, commit=False)
    run.log({"lr_now": 0.01, "text": "not a number"})
    run.summary["best_acc"] = 0.95
    ids = {"finished": run.id}
    run.finish()
    failed = wandb.init(project="vision", name="broken", dir=folder)
    failed.log({"loss": 3.0})
    ids["failed"] = failed.id
    failed.finish(exit_code=1)
    ids["lightning"], losses = lightning_fit(folder)
    sys.stdout.write("\n" + json.dumps({"ids": ids, "lightning_losses": losses}))


if __name__ == "__main__":
    main(sys.argv[1])
