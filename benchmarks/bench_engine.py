"""Speed of ``trainspec.engine.fit`` against hand-written PyTorch loops, in one script.

Printed, not asserted:

- steps/s of ``fit`` / a plain loop with batch indexing (goal: at least 0.98) and / a plain
  ``DataLoader`` loop, for (a) an MLP 64-128-128-5 at batch 64 and (b) a 1-D CNN over
  7,680-sample windows;
- data-parallel training: 2 processes (gloo, one thread each) of ``fit`` against a
  hand-written DDP loop with the same sharding (goal: at least 0.95);
- time to the first optimiser step of a process running ``fit``, of one running a plain loop,
  and of ``python -c "import torch"``.

The variants run in paired rounds (at least 5), back to back, the order alternating between
rounds; each round gives its own ratio, and the median ratio is printed with the spread over
the rounds and the load average, so that a busy machine slows both sides of a ratio alike.
Run: ``python benchmarks/bench_engine.py [--quick] [--repeats N] [--only mlp|cnn|ddp|first-step]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from trainspec.engine import FitSettings, fit
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
        TensorSource(case.x, case.y),
        None,
        FitSettings(
            config=config,
            task="classification",
            num_classes=5,
            seed=0,
        ),
    )
    return time.perf_counter() - start


def load() -> str:
    """The machine's load average, printed with the figures (a shared machine skews them)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} {five:.1f} {fifteen:.1f} on {os.cpu_count()} cores"


def paired(runners: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """``repeats`` rounds of every runner, back to back; the order alternates between rounds,
    so that a machine getting busier or quieter weighs on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for i in range(repeats):
        for name in names if i % 2 == 0 else reversed(names):
            times[name].append(runners[name]())
    return times


def report_ratio(
    label: str, ours: list[float], theirs: list[float], goal: float | None = None
) -> float:
    """Speed of ours over theirs in each round (time theirs / time ours): median and spread."""
    ratios = sorted(t / o for o, t in zip(ours, theirs, strict=True))
    med = statistics.median(ratios)
    aim = f" (goal >= {goal})" if goal is not None else ""
    print(f"  ratio {label}: {med:.3f}{aim}; rounds {ratios[0]:.3f} .. {ratios[-1]:.3f}")
    return med


def compare(case: Case, repeats: int) -> None:
    runners = {
        "trainspec": lambda: trainspec_fit(case),
        "plain": lambda: plain_indexing(case),
        "dataloader": lambda: plain_dataloader(case),
    }
    for run in runners.values():  # warm-up: first-use costs are not steps/s
        run()
    times = paired(runners, repeats)
    print(f"\n{case.name}: {case.steps} steps, {repeats} paired rounds; {load()}")
    for name, t in times.items():
        rates = sorted(case.steps / v for v in t)
        print(
            f"  {name:<11} {statistics.median(rates):9.1f} steps/s "
            f"(rounds {rates[0]:.1f} .. {rates[-1]:.1f})"
        )
    report_ratio(
        "trainspec / plain loop with batch indexing", times["trainspec"], times["plain"], 0.98
    )
    report_ratio("trainspec / plain DataLoader loop", times["trainspec"], times["dataloader"])


DDP_WORLD, DDP_BATCH, DDP_EPOCHS = 2, 32, 2


def _ddp_data(quick: bool) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    n = DDP_WORLD * DDP_BATCH * (128 if quick else 256)
    return torch.randn(n, 64, generator=g), torch.randint(0, 5, (n,), generator=g)


def plain_ddp(x: torch.Tensor, y: torch.Tensor) -> float:
    """A hand-written DDP loop: each epoch's seeded permutation, every process taking its
    strided slice of each global batch (trainspec's sharding), batch indexing."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    model = DistributedDataParallel(mlp())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    dist.barrier()
    start = time.perf_counter()
    for epoch in range(DDP_EPOCHS):
        mine = np.random.default_rng(epoch).permutation(len(x))[rank::world]
        for i in range(len(mine) // DDP_BATCH):
            idx = torch.from_numpy(mine[i * DDP_BATCH : (i + 1) * DDP_BATCH])
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return time.perf_counter() - start


def trainspec_ddp(x: torch.Tensor, y: torch.Tensor) -> float:
    import torch.distributed as dist

    torch.manual_seed(0)
    config = TrainSpec.model_validate(
        {
            "epochs": DDP_EPOCHS,
            "batch_size": DDP_BATCH,
            "drop_last": True,
            "optimizer": {"name": "AdamW", "lr": 1e-3},
            "progress": "none",
            "device": "cpu",
        }
    )
    model = mlp()
    dist.barrier()
    start = time.perf_counter()
    fit(
        model,
        TensorSource(x, y),
        None,
        FitSettings(
            config=config,
            task="classification",
            num_classes=5,
            seed=0,
            forward=lambda module, batch: module(batch["x"]),
        ),
    )
    return time.perf_counter() - start


def ddp_worker(out: str, quick: bool, repeats: int) -> None:
    """One of the processes of the DDP case (started by ``compare_ddp``): the group is joined
    once, then both loops run in paired rounds; rank 0 writes the times."""
    import json

    import torch.distributed as dist

    torch.set_num_threads(1)  # two processes on the machine's cores
    dist.init_process_group("gloo")
    x, y = _ddp_data(quick)
    runners = {"trainspec": lambda: trainspec_ddp(x, y), "plain": lambda: plain_ddp(x, y)}
    for run in runners.values():
        run()
    times = paired(runners, repeats)
    if dist.get_rank() == 0:
        Path(out).write_text(json.dumps(times))
    dist.destroy_process_group()


def compare_ddp(quick: bool, repeats: int) -> None:
    import json
    import socket
    import tempfile

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "times.json"
        base = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
        base["WORLD_SIZE"] = str(DDP_WORLD)
        args = [sys.executable, __file__, "--ddp-worker", str(out), "--repeats", str(repeats)]
        procs = [
            subprocess.Popen(
                [*args, *(["--quick"] if quick else [])],
                env={**base, "RANK": str(r), "LOCAL_RANK": str(r)},
            )
            for r in range(DDP_WORLD)
        ]
        if any(proc.wait() != 0 for proc in procs):
            raise SystemExit("a DDP benchmark process failed")
        times = json.loads(out.read_text())
    x, _ = _ddp_data(quick)
    steps = DDP_EPOCHS * (len(x) // (DDP_WORLD * DDP_BATCH))
    print(
        f"\nDDP, {DDP_WORLD} processes (gloo, 1 thread each), MLP 64-128-128-5, batch "
        f"{DDP_BATCH} per process: {steps} steps, {repeats} paired rounds; {load()}"
    )
    for name, t in times.items():
        rates = sorted(steps / v for v in t)
        print(
            f"  {name:<11} {statistics.median(rates):9.1f} steps/s "
            f"(rounds {rates[0]:.1f} .. {rates[-1]:.1f})"
        )
    report_ratio("trainspec / plain DDP loop", times["trainspec"], times["plain"], 0.95)


FIRST_STEP_FIT = """
import time, numpy as np, torch
from torch import nn
from trainspec.engine import FitSettings, fit
from trainspec.spec import TrainSpec
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
settings = FitSettings(TrainSpec(batch_size=64, progress="none"), "classification", 5)
fit(m, S(), None, settings, stop_flag=first)
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
    parser.add_argument("--quick", action="store_true", help="smaller data")
    parser.add_argument("--repeats", type=int, default=5, help="paired rounds (at least 5)")
    parser.add_argument("--ddp-worker", metavar="OUT", help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=["mlp", "cnn", "ddp", "first-step"], action="append")
    args, _ = parser.parse_known_args(argv)
    if args.ddp_worker:
        ddp_worker(args.ddp_worker, args.quick, args.repeats)
        return
    only = set(args.only or ["mlp", "cnn", "ddp", "first-step"])
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {load()}")
    for key, case in zip(("mlp", "cnn"), cases(args.quick), strict=True):
        if key in only:
            compare(case, args.repeats)
    if "ddp" in only:
        compare_ddp(args.quick, args.repeats)
    if "first-step" in only:
        time_to_first_step(args.repeats)


if __name__ == "__main__":
    main()
