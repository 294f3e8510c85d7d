"""Peak memory of training on an .npy data set several times larger than a memory limit.

Writes X.npy (float32, ``--times`` x ``--limit-mb``) and y.npy, then trains a linear model
for one epoch on it in a fresh process, twice:

- trainspec's ``npy`` source with ``x`` / ``y`` files (memory-mapped, batches read by row);
- the reference: the same arrays loaded into memory with ``np.load`` and handed to the same
  pipeline (``train_model(X, y)``'s path), as a user without memory mapping would.

Each child prints its resident memory after imports (torch alone is a few hundred MB), its
peak (``VmHWM`` from /proc/self/status: every page the process held, file-backed ones
included) and the peak above the post-import baseline. The mapped run must stay under the
limit; the printed ratio is reference / mapped growth. Linux only (reads /proc).

Run: ``python benchmarks/bench_memory.py [--limit-mb 64] [--times 4]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

FEATURES = 1024  # float32 columns: 4 KiB a row
BATCH = 256


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} is not in /proc/self/status (Linux only)")


def _reset_peak() -> None:
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0).
    Path("/proc/self/clear_refs").write_text("5")


def write_data(folder: Path, total_mb: int) -> tuple[int, Path, Path]:
    rows = total_mb * (1 << 20) // (FEATURES * 4)
    x = np.lib.format.open_memmap(
        folder / "X.npy", mode="w+", dtype=np.float32, shape=(rows, FEATURES)
    )
    rng = np.random.default_rng(0)
    w = rng.standard_normal(FEATURES).astype(np.float32)
    y = np.empty(rows, dtype=np.int64)
    for s in range(0, rows, 4096):
        block = rng.standard_normal((min(4096, rows - s), FEATURES), dtype=np.float32)
        x[s : s + len(block)] = block
        y[s : s + len(block)] = block @ w > 0
    x.flush()
    del x
    np.save(folder / "y.npy", y)
    return rows, folder / "X.npy", folder / "y.npy"


def child(mode: str, folder: Path) -> dict[str, float]:
    """One epoch in this process; memory figures in MB."""
    import torch

    from trainspec.data import prepare_data
    from trainspec.spec import DataSpec

    torch.set_num_threads(1)
    arrays = None
    split = {"method": "holdout", "ratios": {"train": 0.9, "val": 0.1}}
    if mode == "mapped":
        source = {"type": "npy", "x": str(folder / "X.npy"), "y": str(folder / "y.npy")}
    else:
        source = {"type": "arrays"}
    spec = DataSpec.model_validate({"source": source, "split": split, "cache": False})
    model = torch.nn.Linear(FEATURES, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    torch.nn.functional.cross_entropy(model(torch.zeros(2, FEATURES)), torch.zeros(2).long())
    _reset_peak()
    baseline = _status_kb("VmRSS")
    if mode == "memory":
        arrays = (np.load(folder / "X.npy"), np.load(folder / "y.npy"))
    prepared = prepare_data(spec, seed=0, arrays=arrays)
    train = prepared.fold(0).source("train", train=True)
    order = np.random.default_rng(0).permutation(len(train))
    steps = 0
    for batch in train.iter_batches(order, BATCH, generator=torch.Generator().manual_seed(0)):
        loss = torch.nn.functional.cross_entropy(model(batch["x"]), batch["target"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    peak = _status_kb("VmHWM")
    return {
        "baseline_mb": baseline / 1024,
        "peak_mb": peak / 1024,
        "growth_mb": (peak - baseline) / 1024,
        "steps": steps,
        "source": type(train).__name__,
    }


def _run_child(mode: str, folder: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--folder", str(folder)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-mb", type=int, default=64, help="memory budget for the data")
    parser.add_argument("--times", type=int, default=4, help="data size / limit")
    parser.add_argument("--child", choices=["mapped", "memory"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-reference", action="store_true", help="skip the in-memory run")
    args = parser.parse_args(argv or [])  # run_all passes none: the defaults
    if args.child:
        print(json.dumps(child(args.child, args.folder)))
        return 0
    with tempfile.TemporaryDirectory(prefix="trainspec-bench-memory-") as tmp:
        folder = Path(tmp)
        rows, x_path, _ = write_data(folder, args.limit_mb * args.times)
        size_mb = x_path.stat().st_size / (1 << 20)
        print(f"X.npy: {rows} rows x {FEATURES} float32 = {size_mb:.0f} MB")
        print(f"memory limit for the data: {args.limit_mb} MB ({size_mb / args.limit_mb:.1f}x)")
        mapped = _run_child("mapped", folder)
        print(
            f"npy source, memory-mapped ({mapped['source']}, {mapped['steps']} steps): "
            f"after imports {mapped['baseline_mb']:.0f} MB, peak RSS {mapped['peak_mb']:.0f} "
            f"MB, growth {mapped['growth_mb']:.0f} MB"
        )
        ok = mapped["growth_mb"] < args.limit_mb
        print(f"within the limit: {'yes' if ok else 'NO'}")
        if not args.no_reference:
            memory = _run_child("memory", folder)
            print(
                f"reference, np.load into memory ({memory['source']}): after imports "
                f"{memory['baseline_mb']:.0f} MB, peak RSS {memory['peak_mb']:.0f} MB, growth "
                f"{memory['growth_mb']:.0f} MB"
            )
            ratio = memory["growth_mb"] / max(mapped["growth_mb"], 1.0)
            print(f"peak growth, in memory / mapped: {ratio:.1f}x")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
