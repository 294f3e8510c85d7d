"""Write NumPy arrays as a user already has them: X.npy (inputs) and y.npy (labels).

    python examples/numpy/make_data.py data/            # X.npy, y.npy, X_new.npy, y_new.npy

X holds 600 one-channel signals of 128 samples, shape (600, 1, 128) float32: a sine of one
of three frequencies (the class, in y as 0, 1, 2) with noise and a random phase.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

FREQUENCIES = (2.0, 5.0, 9.0)  # cycles per signal, one per class


def signals(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, len(FREQUENCIES), n)
    t = np.linspace(0, 1, 128, endpoint=False)
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    freq = np.asarray(FREQUENCIES)[y][:, None]
    x = np.sin(2 * np.pi * freq * t + phase) + 0.5 * rng.standard_normal((n, 128))
    return x[:, None, :].astype(np.float32), y.astype(np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("-n", type=int, default=600)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    x, y = signals(args.n, rng)
    np.save(args.out / "X.npy", x)
    np.save(args.out / "y.npy", y)
    x_new, y_new = signals(50, rng)
    np.save(args.out / "X_new.npy", x_new)
    np.save(args.out / "y_new.npy", y_new)
    print(f"wrote X.npy {x.shape}, y.npy {y.shape} and 50 new signals under {args.out}")


if __name__ == "__main__":
    main()
