"""SYNTHETIC nights for the published-network example, and the "published" checkpoint.

    python examples/published_net/make_data.py --out examples/published_net/data

Each night is a record of T epochs (T varies): 4 features per epoch, a stage (0, 1 or 2) per
epoch, and a weight per epoch (the published loss takes per-epoch weights: lower for the
uncertain epochs at stage transitions). The checkpoint is what the network's authors would
ship: a plain ``torch.save`` of the state dict, built with the network's own constructor.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
N_FEATURES = 4


def _night(rng: np.random.Generator, n_epochs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    stages = np.repeat(rng.integers(0, 3, size=n_epochs // 4 + 1), 4)[:n_epochs]
    centres = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]], dtype=np.float32)
    features = centres[stages] + rng.normal(0, 0.6, (n_epochs, N_FEATURES)).astype(np.float32)
    changes = np.r_[False, stages[1:] != stages[:-1]]
    weights = np.where(changes, 0.5, 1.0).astype(np.float32)
    return features, stages.astype(np.int64), weights


def make_nights(path: Path, *, n_nights: int = 24, seed: int = 0) -> Path:
    """An HDF5 file of nights: records/<night>/{features, stage, epoch_weight}, attr subject."""
    import h5py

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        records = f.create_group("records")
        for i in range(n_nights):
            features, stages, weights = _night(rng, int(rng.integers(12, 30)))
            g = records.create_group(f"night{i:03d}")
            g.attrs["subject"] = f"s{i // 2:02d}"
            g.create_dataset("features", data=features)
            g.create_dataset("stage", data=stages)
            g.create_dataset("epoch_weight", data=weights)
    return path


def make_checkpoint(path: Path, *, seed: int = 1) -> Path:
    """The authors' checkpoint: their constructor, their example sample, torch.save."""
    import torch

    sys.path.insert(0, str(HERE))
    from sleepnet import EpochNet

    torch.manual_seed(seed)
    params = json.loads((HERE / "net_parameters.json").read_text(encoding="utf-8"))
    sample = {"x": torch.zeros(1, 8, N_FEATURES)}
    net = EpochNet(params, sample)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model_state_dict": net.state_dict()}, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "data")
    args = parser.parse_args()
    make_nights(args.out / "nights.h5")
    make_checkpoint(args.out / "published.pt")
    print(f"wrote {args.out / 'nights.h5'} and {args.out / 'published.pt'}")


if __name__ == "__main__":
    main()
