"""A tiny training run for the SIGKILL test: ``python -m tests.integration.engine_resume_script
RUN_DIR``.

It prints ``tick`` after every optimiser step and ``epoch N`` when epoch N ends (after its
line is in metrics.jsonl, before its checkpoint), so the test can kill it at chosen moments.
Everything random is in play: dropout, augmentation noise, shuffling, AdamW, a per-step
schedule.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from tests.unit.engine.helpers import ArraySource, classification_data, mlp
from trainspec.data._batch import Batch
from trainspec.engine import Callback, FitSettings, fit
from trainspec.spec._schema_train import TrainSpec

CONFIG = {
    "epochs": 5,
    "batch_size": 16,
    "progress": "none",
    "optimizer": {"name": "AdamW", "lr": 0.01},
    "scheduler": {"name": "warmup_cosine", "interval": "step", "warmup_steps": 4},
    "metrics": ["accuracy"],
    "checkpoint": {"every_steps": 4, "every_epochs": 1, "keep_last": 2},
}


class Announce(Callback):
    def on_epoch_end(self, row: Mapping[str, float]) -> None:
        print(f"epoch {int(row['epoch'])}", flush=True)


def tick() -> bool:
    print("tick", flush=True)
    return False


def slow_forward(module: nn.Module, batch: Batch) -> torch.Tensor:
    time.sleep(0.004)  # so that a kill lands near the step the test aimed at
    out: torch.Tensor = module(batch["x"])
    return out


def main(run_dir: Path) -> None:
    data = classification_data(128)
    train = ArraySource({k: v[:96] for k, v in data.items()}, noise=0.3)
    val = ArraySource({k: v[96:] for k, v in data.items()})
    result = fit(
        mlp(dropout=0.3),
        train,
        val,
        FitSettings(
            config=TrainSpec.model_validate(CONFIG),
            task="classification",
            num_classes=3,
            seed=7,
            forward=slow_forward,
            compat={"seed": "7"},
            callbacks=[Announce()],
        ),
        run_dir=run_dir,
        resume=True,
        stop_flag=tick,
    )
    print(f"done {result.global_step}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
