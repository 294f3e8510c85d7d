"""GPU check: trainspec on a CUDA device, fp32 and bf16.

    PYTHONPATH=src python benchmarks/gpu_check.py

Without a CUDA device it prints "no CUDA device: skipped" and exits 0 (``--device cpu``
rehearses the same checks on the CPU). With one, for digits
(an MLP) and the sleep-staging pretraining (a per-epoch 1-D CNN with a TCN over the night), in
fp32 and in bf16 autocast, it checks that

- the training loss falls;
- a run stopped half-way and resumed (``--resume``, more epochs) repeats the uninterrupted one:
  byte for byte in fp32, within a relative 1e-2 in bf16;

and it prints the training steps per second of trainspec against a plain PyTorch loop (the same
MLP, data, batch size and per-epoch validation, hand-written) on the same GPU. Exit status 1
when a check fails.

Exact resume on CUDA needs deterministic kernels; the check runs with
``torch.use_deterministic_algorithms(True)`` (trainspec's ``train.deterministic``, on by
default), ``CUBLAS_WORKSPACE_CONFIG=:4096:8``, ``torch.backends.cudnn.benchmark = False`` and
TF32 off (so that fp32 is fp32). It uses only APIs of torch 2.2 and later.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits" / "train.yaml"
SLEEP = ROOT / "examples" / "sleep_staging" / "pretrain.yaml"
EPOCHS = {"digits": 6, "sleep": 4}
BF16_TOLERANCE = 1e-2


def _deterministic() -> list[str]:
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return [
        "train.deterministic: true (torch.use_deterministic_algorithms, warn only)",
        f"CUBLAS_WORKSPACE_CONFIG={os.environ['CUBLAS_WORKSPACE_CONFIG']}",
        "torch.backends.cudnn.benchmark = False, cudnn.deterministic = True",
        "TF32 off for matmul and cuDNN",
    ]


def _train(spec: Path, overrides: list[str], run_dir: Path, resume: bool = False) -> Any:
    from trainspec.experiments import run_experiment
    from trainspec.spec import load_spec

    loaded = load_spec(str(spec), overrides=overrides)
    return run_experiment(loaded, run_dir=run_dir, resume=resume, progress="none")


def _rows(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _max_rel_diff(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> float:
    if len(a) != len(b):
        return float("inf")
    worst = 0.0
    for ra, rb in zip(a, b, strict=True):
        for key, va in ra.items():
            vb = rb.get(key)
            if isinstance(va, float) and isinstance(vb, float):
                worst = max(worst, abs(va - vb) / max(abs(va), abs(vb), 1e-12))
            elif va != vb:
                return float("inf")
    return worst


def _case(name: str, spec: Path, extra: list[str], precision: str, tmp: Path, device: str) -> bool:
    epochs = EPOCHS[name]
    common = [
        f"train.device={device}",
        f"train.precision={precision}",
        "train.progress=none",
        "tracking.backend=none",
        f"run.root={tmp / 'runs'}",
        *extra,
    ]
    full_dir, part_dir = tmp / f"{name}-{precision}-full", tmp / f"{name}-{precision}-resumed"
    started = time.perf_counter()
    full = _train(spec, [*common, f"train.epochs={epochs}"], full_dir)
    _train(spec, [*common, f"train.epochs={epochs // 2}"], part_dir)
    _train(spec, [*common, f"train.epochs={epochs}"], part_dir, resume=True)
    elapsed = time.perf_counter() - started
    rows = _rows(full_dir)
    falls = rows[-1]["train/loss"] < rows[0]["train/loss"]
    if precision == "fp32":
        same = (full_dir / "metrics.jsonl").read_bytes() == (
            part_dir / "metrics.jsonl"
        ).read_bytes()
        resume_note = "resume exact" if same else "resume DIFFERS"
    else:
        diff = _max_rel_diff(rows, _rows(part_dir))
        same = diff <= BF16_TOLERANCE
        resume_note = f"resume max rel diff {diff:.2e} (limit {BF16_TOLERANCE:g})"
    steps = rows[-1]["step"]
    seconds = sum(float(r.get("time", 0.0)) for r in full.history)
    first, last = rows[0]["train/loss"], rows[-1]["train/loss"]
    print(
        f"{name:<7} {precision:<5} loss {first:.4f} -> {last:.4f} "
        f"({'falls' if falls else 'DOES NOT FALL'}); {resume_note}; "
        f"{steps / seconds:.1f} steps/s; {elapsed:.1f} s for three runs",
        flush=True,
    )
    return falls and same


def _sync(dev: Any) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize()


def _plain_digits(epochs: int, device: str) -> tuple[int, float]:
    """The digits MLP trained by a hand-written loop on the GPU: (steps, seconds)."""
    import numpy as np
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from torch import nn

    x, y = load_digits(return_X_y=True)
    x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    mean, std = x_tr.mean(0), x_tr.std(0) + 1e-8
    dev = torch.device(device)

    def tensor(a: Any, dtype: Any) -> Any:
        return torch.as_tensor(np.asarray(a), dtype=dtype, device=dev)

    xt, yt = tensor((x_tr - mean) / std, torch.float32), tensor(y_tr, torch.long)
    xv, yv = tensor((x_va - mean) / std, torch.float32), tensor(y_va, torch.long)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 64), nn.ReLU(),
        nn.Linear(64, 10),
    ).to(dev)  # fmt: skip
    opt = torch.optim.AdamW(model.parameters(), lr=0.002, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    steps, batch = 0, 64
    _sync(dev)
    started = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xt), device=dev).split(batch):
            loss = loss_fn(model(xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
        model.eval()
        with torch.no_grad():
            val = loss_fn(model(xv), yv)
        float(val)  # read each epoch, as a run reads its validation metrics
    _sync(dev)
    return steps, time.perf_counter() - started


def _speed(tmp: Path, device: str) -> None:
    epochs = 20
    overrides = [
        f"train.device={device}",
        "train.progress=none",
        "tracking.backend=none",
        f"run.root={tmp / 'runs'}",
        f"train.epochs={epochs}",
    ]
    _plain_digits(2, device)  # warm up the device and the allocator
    result = _train(DIGITS, overrides, tmp / "speed")
    ours = result.history[-1]["step"] / sum(float(r["time"]) for r in result.history)
    steps, seconds = _plain_digits(epochs, device)
    plain = steps / seconds
    print(
        f"speed   digits fp32: trainspec {ours:.1f} steps/s, plain loop {plain:.1f} steps/s, "
        f"ratio {ours / plain:.3f} (per-epoch validation included in both)",
        flush=True,
    )


def _sleep_data(tmp: Path) -> Path:
    sys.path.insert(0, str(SLEEP.parent))
    import generate  # the example's own generator, beside its specs

    return Path(generate.generate(tmp / "sleep-data")["A"])


def main(argv: list[str]) -> int:
    device = argv[argv.index("--device") + 1] if "--device" in argv else "cuda"
    try:
        import torch
    except ImportError:
        print("torch is not installed: skipped")
        return 0
    if device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: skipped")
        return 0
    settings = _deterministic()
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    print(f"device: {name}; torch {torch.__version__}, CUDA {torch.version.cuda}")
    print("deterministic settings: " + "; ".join(settings), flush=True)
    bf16 = device != "cuda" or torch.cuda.is_bf16_supported()
    precisions = ["fp32", "bf16"] if bf16 else ["fp32"]
    if "bf16" not in precisions:
        print("bf16: not supported by this GPU: checked in fp32 only")
    ok = True
    with tempfile.TemporaryDirectory(prefix="trainspec-gpu-") as name:
        tmp = Path(name)
        cohort_a = _sleep_data(tmp)
        sleep_extra = [f"data.source.path={cohort_a}", "~train.scheduler"]
        for precision in precisions:
            ok &= _case("digits", DIGITS, [], precision, tmp, device)
            ok &= _case("sleep", SLEEP, sleep_extra, precision, tmp, device)
        _speed(tmp, device)
    print("all checks passed" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
