"""Overhead of a trainspec sweep per trial, against a plain Optuna script with the same objective.

Both train the same MLP (64-32-10, AdamW, batch 64) on scikit-learn's digits, standardised,
with the same stratified 80/20 split, for the same epochs, and report validation accuracy
(scored in one pass over the 360 validation rows: the sweep's spec sets
``train.eval_batch_size``; ``--eval-batch 0`` keeps trainspec's default, batches of 64), with
the learning rate drawn by a seeded random sampler from a study in a SQLite file:

- **plain**: ``study.optimize`` over a hand-written objective (numpy split, a plain PyTorch
  loop with batch indexing);
- **trainspec**: ``run_sweep`` on a job spec with a ``sweep:`` block (one worker, in this
  process), with tracking off and with the embedded MLflow store: every trial is a full run
  (spec validation, data preparation, run directory, checkpoints, metrics file, summary).

Both run in this process, on one torch thread, after a warm-up, so imports are not counted;
both are timed from opening the study's storage to the last trial's result. The variants run
in paired rounds (the order alternating), and each round's ratio is taken within the round, so
a machine that gets busier or quieter weighs on both alike; the median ratio and the spread
over the rounds are printed, with the load average. Two cases: short trials (2 epochs, a few
hundredths of a second of training), where the per-trial overhead shows, and long ones
(``--long-epochs``, 2 s or more of training a trial), as real sweeps have; from the two, the
overhead is split into a part per trial and a part per epoch. Printed, not asserted:
``python benchmarks/bench_sweep.py [--trials 6] [--epochs 2] [--long-epochs 220] [--repeats 5]
[--eval-batch 512]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HIDDEN, BATCH, SEED = 32, 64, 0
# The plain script scores the 360 validation rows in one pass; so does the sweep's spec
# (train.eval_batch_size), so that both do the same arithmetic. 0: trainspec's default,
# batches of train.batch_size (six passes here).
EVAL_BATCH = 512


def job(
    root: Path, name: str, *, trials: int, epochs: int, tracking: str, eval_batch: int
) -> dict[str, Any]:
    train_extra = {"eval_batch_size": eval_batch} if eval_batch else {}
    return {
        "name": "bench-sweep",
        "seed": SEED,
        "task": "classification",
        "model": {
            "inputs": [64],
            "layers": [
                {"type": "Linear", "out_features": HIDDEN},
                "ReLU",
                {"type": "Linear", "out_features": 10},
            ],
        },
        "data": {
            "source": {"type": "sklearn", "name": "digits"},
            "transforms": [{"type": "standardize"}],
            "split": {"method": "stratified", "ratios": {"train": 0.8, "val": 0.2}},
        },
        "train": {
            "epochs": epochs,
            "batch_size": BATCH,
            "optimizer": {"name": "AdamW", "lr": 0.002},
            "metrics": ["accuracy"],
            "monitor": {"metric": "val/accuracy", "mode": "max"},
            "progress": "none",
            **train_extra,
        },
        "tracking": {"backend": tracking},
        "run": {"root": str(root)},
        "sweep": {
            "name": name,
            "metric": "val/accuracy",
            "direction": "maximize",
            "n_trials": trials,
            "sampler": {"type": "random", "seed": SEED},
            "pruner": "none",
            "params": {
                "train.optimizer.lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}
            },
        },
    }


def digits_split() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    xt, xv, yt, yv = train_test_split(x, y, test_size=0.2, stratify=y, random_state=SEED)
    mean, std = xt.mean(0), xt.std(0)
    std[std == 0] = 1.0
    return (xt - mean) / std, (xv - mean) / std, yt, yv


def plain_objective(epochs: int) -> Any:
    import torch
    from torch import nn

    def objective(trial: Any) -> float:
        lr = trial.suggest_float("train.optimizer.lr", 1e-3, 1e-1, log=True)
        xt, xv, yt, yv = digits_split()
        x = torch.tensor(xt, dtype=torch.float32)
        y = torch.tensor(yt)
        torch.manual_seed(SEED)
        net = nn.Sequential(nn.Linear(64, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 10))
        opt = torch.optim.AdamW(net.parameters(), lr=lr)
        loss_fn = nn.CrossEntropyLoss()
        gen = torch.Generator().manual_seed(SEED)
        best = 0.0
        for _ in range(epochs):
            net.train()
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), BATCH):
                rows = order[start : start + BATCH]
                opt.zero_grad()
                loss_fn(net(x[rows]), y[rows]).backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                pred = net(torch.tensor(xv, dtype=torch.float32)).argmax(1).numpy()
            best = max(best, float((pred == yv).mean()))
        return best

    return objective


def run_plain(tmp: Path, trials: int, epochs: int) -> float:
    import optuna

    start = time.perf_counter()
    study = optuna.create_study(
        storage=f"sqlite:///{tmp / 'plain.db'}",
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=SEED),
    )
    study.optimize(plain_objective(epochs), n_trials=trials)
    return (time.perf_counter() - start) / trials


def run_trainspec(
    tmp: Path, trials: int, epochs: int, tracking: str, eval_batch: int = EVAL_BATCH
) -> float:
    """One sweep in a shared runs root (one MLflow store, made during the warm-up)."""
    from trainspec.experiments._sweep import run_sweep

    spec = job(
        tmp.parent / "runs",
        tmp.name,
        trials=trials,
        epochs=epochs,
        tracking=tracking,
        eval_batch=eval_batch,
    )
    start = time.perf_counter()
    result = run_sweep(spec)
    assert result.counts.get("complete") == trials, result.counts
    return (time.perf_counter() - start) / trials


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} {five:.1f} {fifteen:.1f} on {os.cpu_count()} cores"


def compare(
    label: str, trials: int, epochs: int, repeats: int, goals: dict[str, float], eval_batch: int
) -> dict[str, float]:
    """Prints the case's table; returns each trainspec variant's median overhead per trial
    over the plain script (seconds)."""

    def trainspec(tracking: str) -> Any:
        return lambda t: run_trainspec(t, trials, epochs, tracking, eval_batch)

    variants = {
        "plain Optuna + PyTorch loop": lambda t: run_plain(t, trials, epochs),
        "trainspec sweep, tracking none": trainspec("none"),
        "trainspec sweep, MLflow store": trainspec("mlflow"),
    }
    names = list(variants)
    times: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as warm:  # imports, first MLflow store: not counted
        for run in variants.values():
            run(Path(tempfile.mkdtemp(dir=warm)))
        for i in range(repeats):
            for name in names if i % 2 == 0 else reversed(names):
                times[name].append(variants[name](Path(tempfile.mkdtemp(dir=warm))))
    plain = times[names[0]]
    overheads: dict[str, float] = {}
    scored = f"validation scored in batches of {eval_batch}" if eval_batch else "default"
    print(
        f"\n{label}: {trials} trials x {epochs} epochs of digits, {repeats} paired rounds "
        f"({scored})"
    )
    print(f"  {load()}")
    for name, t in times.items():
        line = f"  {name:31s} {1000 * statistics.median(t):7.0f} ms/trial"
        if name in goals:
            ratios = sorted(a / b for a, b in zip(t, plain, strict=True))
            over = statistics.median(a - b for a, b in zip(t, plain, strict=True))
            overheads[name] = over
            line += (
                f"  ratio {statistics.median(ratios):5.2f} (goal <= {goals[name]}; rounds "
                f"{ratios[0]:.2f} .. {ratios[-1]:.2f})  overhead {1000 * over:5.0f} ms"
            )
        print(line)
    return overheads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--long-trials", type=int, default=2)
    parser.add_argument("--long-epochs", type=int, default=220)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--eval-batch",
        type=int,
        default=EVAL_BATCH,
        help="train.eval_batch_size of the sweep's spec; 0 for trainspec's default",
    )
    args, _ = parser.parse_known_args()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # as the CLI does
    import optuna
    import torch

    optuna.logging.set_verbosity(logging.WARNING)
    # One thread for both: a tiny MLP gains nothing from more, and a busy machine makes
    # OpenMP threads spin against each other.
    torch.set_num_threads(1)
    none, tracked = "trainspec sweep, tracking none", "trainspec sweep, MLflow store"
    short = compare(
        "short trials",
        args.trials,
        args.epochs,
        args.repeats,
        {none: 1.3, tracked: 1.6},
        args.eval_batch,
    )
    long = compare(
        "long trials",
        args.long_trials,
        args.long_epochs,
        args.repeats,
        {none: 1.05, tracked: 1.05},
        args.eval_batch,
    )
    # Overhead = a part per trial + a part per epoch; two cases give both.
    print("\nwhere the overhead goes (from the two cases):")
    for name in (none, tracked):
        per_epoch = (long[name] - short[name]) / (args.long_epochs - args.epochs)
        per_trial = short[name] - args.epochs * per_epoch
        print(
            f"  {name:31s} {1000 * per_trial:5.0f} ms per trial + {1000 * per_epoch:5.2f} ms "
            "per epoch"
        )


if __name__ == "__main__":
    main()
