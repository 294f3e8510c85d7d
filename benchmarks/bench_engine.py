"""Speed of ``trainspec.engine.fit`` against hand-written PyTorch loops, in one script.

Printed, not asserted:

- steps/s of ``fit`` / a plain loop with batch indexing (goal: at least 0.95) and / a plain
  ``DataLoader`` loop, for (a) an MLP 64-128-128-5 at batch 64 and (b) a 1-D CNN over
  7,680-sample windows;
- time to the first optimiser step of a process running ``fit``, of one running a plain loop,
  and of ``python -c "import torch"``.

Each measurement is the median of several repeats, the variants interleaved so that a busy
machine slows them alike. Run: ``python benchmarks/bench_engine.py [--quick]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from trainspec.engine import fit
from trainspec.spec._schema_train import TrainSpec


class TensorSource:
    """An in-memory BatchSource served by batch indexing (as the data layer's)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def iter_batches(
        self,
        order: np.ndarray,
        batch_size: int,
        *,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
    ) -> Iterator[dict[str, torch.Tensor]]:
        idx = torch.from_numpy(order)
        stop = len(idx) - len(idx) % batch_size if drop_last else len(idx)
        for start in range(0, stop, batch_size):
            rows = idx[start : start + batch_size]
            yield {"x": self.x[rows], "target": self.y[rows]}


@dataclass
class Case:
    name: str
    make_model: Callable[[], nn.Module]
    x: torch.Tensor
    y: torch.Tensor
    batch_size: int
    epochs: int

    @property
    def steps(self) -> int:
        return self.epochs * (len(self.x) // self.batch_size)


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 5)
    )


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv1d(1, 16, kernel_size=7, stride=4, padding=3),
        nn.ReLU(),
        nn.Conv1d(16, 32, kernel_size=7, stride=4, padding=3),
        nn.ReLU(),
        nn.Conv1d(32, 32, kernel_size=7, stride=4, padding=3),
        nn.ReLU(),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(32, 5),
    )


def cases(quick: bool) -> list[Case]:
    g = torch.Generator().manual_seed(0)
    n_mlp = 64 * (128 if quick else 256)
    n_cnn = 32 * (8 if quick else 24)
    return [
        Case(
            "MLP 64-128-128-5, batch 64",
            mlp,
            torch.randn(n_mlp, 64, generator=g),
            torch.randint(0, 5, (n_mlp,), generator=g),
            64,
            4,
        ),
        Case(
            "1-D CNN, 7,680-sample windows, batch 32",
            cnn,
            torch.randn(n_cnn, 1, 7680, generator=g),
            torch.randint(0, 5, (n_cnn,), generator=g),
            32,
            2,
        ),
    ]


def plain_indexing(case: Case) -> float:
    torch.manual_seed(0)
    model = case.make_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    n, bs = len(case.x), case.batch_size
    start = time.perf_counter()
    for _ in range(case.epochs):
        perm = torch.randperm(n)
        for i in range(n // bs):
            idx = perm[i * bs : (i + 1) * bs]
            loss = loss_fn(model(case.x[idx]), case.y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return time.perf_counter() - start


def plain_dataloader(case: Case) -> float:
    torch.manual_seed(0)
    model = case.make_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(
        TensorDataset(case.x, case.y), batch_size=case.batch_size, shuffle=True, drop_last=True
    )
    start = time.perf_counter()
    for _ in range(case.epochs):
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return time.perf_counter() - start


def trainspec_fit(case: Case) -> float:
    torch.manual_seed(0)
    model = case.make_model()
    config = TrainSpec.model_validate(
        {
            "epochs": case.epochs,
            "batch_size": case.batch_size,
            "drop_last": True,
            "optimizer": {"name": "AdamW", "lr": 1e-3},
            "progress": "none",
            "device": "cpu",
        }
    )
    start = time.perf_counter()
    fit(
        model,
        train=TensorSource(case.x, case.y),
        val=None,
        config=config,
        task="classification",
        num_classes=5,
        seed=0,
    )
    return time.perf_counter() - start


def compare(case: Case, repeats: int) -> None:
    runners = {"trainspec": trainspec_fit, "plain": plain_indexing, "dataloader": plain_dataloader}
    for run in runners.values():  # warm-up: first-use costs are not steps/s
        run(case)
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            times[name].append(run(case))
    rate = {name: case.steps / statistics.median(t) for name, t in times.items()}
    print(f"\n{case.name}: {case.steps} steps, median of {repeats}")
    for name, r in rate.items():
        print(f"  {name:<11} {r:9.1f} steps/s")
    plain = rate["trainspec"] / rate["plain"]
    print(f"  ratio trainspec / plain loop with batch indexing: {plain:.3f} (goal >= 0.95)")
    print(
        f"  ratio trainspec / plain DataLoader loop:          "
        f"{rate['trainspec'] / rate['dataloader']:.3f}"
    )


FIRST_STEP_FIT = """
import time, numpy as np, torch
from torch import nn
from trainspec.engine import fit
from trainspec.spec._schema_train import TrainSpec
class S:
    def __len__(self): return 256
    def iter_batches(self, order, bs, *, drop_last=False, generator=None):
        x = torch.randn(256, 64); y = torch.randint(0, 5, (256,))
        for i in range(0, len(order), bs):
            idx = torch.from_numpy(order[i:i + bs]); yield {"x": x[idx], "target": y[idx]}
def first():
    print(time.time(), flush=True)
    raise SystemExit(0)
m = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 5))
fit(m, train=S(), val=None, config=TrainSpec(batch_size=64, progress="none"),
    task="classification", num_classes=5, seed=0, stop_flag=first)
"""

FIRST_STEP_PLAIN = """
import time, torch
from torch import nn
m = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 5))
opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
x = torch.randn(64, 64); y = torch.randint(0, 5, (64,))
nn.functional.cross_entropy(m(x), y).backward(); opt.step()
print(time.time(), flush=True)
"""


def _first_step(code: str) -> float:
    start = time.time()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1]) - start


def _import_torch() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    return time.perf_counter() - start


def time_to_first_step(repeats: int) -> None:
    runs: dict[str, list[float]] = {"import torch": [], "plain loop": [], "trainspec": []}
    for _ in range(repeats):
        runs["import torch"].append(_import_torch())
        runs["plain loop"].append(_first_step(FIRST_STEP_PLAIN))
        runs["trainspec"].append(_first_step(FIRST_STEP_FIT))
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"\ntime to first step (new process), median of {repeats}")
    for name, value in med.items():
        print(f"  {name:<13} {value:6.2f} s")
    print(
        f"  trainspec - import torch: {med['trainspec'] - med['import torch']:+.2f} s "
        "(goal: under 1 s)"
    )
    print(
        f"  trainspec - plain loop:   {med['trainspec'] - med['plain loop']:+.2f} s "
        "(the optimiser's first use imports torch._dynamo in both)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, fewer repeats")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    repeats = 3 if args.quick else 5
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for case in cases(args.quick):
        compare(case, repeats)
    time_to_first_step(3 if args.quick else 5)


if __name__ == "__main__":
    main()
