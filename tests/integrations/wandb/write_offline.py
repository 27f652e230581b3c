"""Write W&B offline runs with the real client (run as a script: the client starts its own service)."""

from __future__ import annotations

import json
import os
import sys

os.environ["WANDB_MODE"] = "offline"
os.environ["WANDB_SILENT"] = "true"

import wandb  # noqa: E402


def main(folder: str) -> None:
    logged: dict[str, list[list[float]]] = {}
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
    logged["ids"] = ids  # type: ignore[assignment]
    sys.stdout.write(json.dumps(logged))


if __name__ == "__main__":
    main(sys.argv[1])
