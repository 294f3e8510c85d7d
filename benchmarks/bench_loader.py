"""In-memory batch indexing (trainspec) against a plain DataLoader over a TensorDataset.

Same data, same model (MLP 64-128-128-5), same batch size and order; the training step is
included so the ratio is what a user sees. Prints steps/s of each and their ratio (medians of
several repeats). Run: ``python benchmarks/bench_loader.py [--steps N] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from trainspec.data import prepare_data
from trainspec.spec import DataSpec

N_SAMPLES, N_FEATURES, N_CLASSES, BATCH = 16_384, 64, 5, 64


def _model() -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(N_FEATURES, 128),
        nn.ReLU(),
        nn.Linear(128, 128),
        nn.ReLU(),
        nn.Linear(128, N_CLASSES),
    )
    return model, torch.optim.SGD(model.parameters(), lr=0.01)


def _train(batches: Iterator[tuple[torch.Tensor, torch.Tensor]], steps: int) -> float:
    model, opt = _model()
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for step, (x, y) in enumerate(batches):
        if step == steps:
            break
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
    return time.perf_counter() - start


def _trainspec_batches(
    x: np.ndarray, y: np.ndarray, order: np.ndarray
) -> Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor]]]:
    spec = DataSpec.model_validate(
        {"source": {"type": "arrays"}, "split": {"method": "holdout", "ratios": {"train": 1.0}}}
    )
    source = prepare_data(spec, seed=0, arrays=(x, y)).fold(0).source("train", train=True)

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            for b in source.iter_batches(order, BATCH, drop_last=True):
                yield b["x"], b["target"]

    return batches


def _dataloader_batches(
    x: np.ndarray, y: np.ndarray, order: np.ndarray
) -> Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor]]]:
    from torch.utils.data import DataLoader, TensorDataset

    dataset = TensorDataset(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y))
    loader = DataLoader(dataset, batch_size=BATCH, sampler=order.tolist(), drop_last=True)

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield from loader

    return batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N_SAMPLES, N_FEATURES))
    y = rng.integers(0, N_CLASSES, size=N_SAMPLES)
    order = rng.permutation(N_SAMPLES)
    makers = {
        "trainspec batch indexing": _trainspec_batches(x, y, order),
        "DataLoader(TensorDataset)": _dataloader_batches(x, y, order),
    }
    times: dict[str, list[float]] = {name: [] for name in makers}
    for _ in range(args.repeats):  # interleaved, so drift hits both alike
        for name, make in makers.items():
            times[name].append(_train(make(), args.steps))
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"{args.steps} steps of an MLP 64-128-128-5, batch {BATCH}, median of {args.repeats}")
    for name, seconds in medians.items():
        print(f"  {name:28s} {seconds:7.3f} s  {args.steps / seconds:9.1f} steps/s")
    ratio = medians["DataLoader(TensorDataset)"] / medians["trainspec batch indexing"]
    print(f"  speed-up of batch indexing over DataLoader: {ratio:.2f}x")


if __name__ == "__main__":
    main()
