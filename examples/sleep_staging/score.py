"""Score the predictions of the sleep-staging example: Cohen's kappa over held-out nights.

``trainspec predict RUN --data cohort_B.h5 --out pred.csv`` stages every epoch of every night
in the file (one row per epoch: ``record``, ``epoch``, ``prediction``, ``proba_<stage>``, and
``target`` when the file holds the scored stages). This script keeps the nights of one split of
a run (``--nights-of RUN --split test``: nights of subjects that run never trained on) and
compares prediction with target over all their epochs, pooled.

    python examples/sleep_staging/score.py pred.csv --nights-of runs/sleep_staging/finetune
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Score:
    kappa: float
    accuracy: float
    nights: int
    epochs: int

    def __str__(self) -> str:
        return (
            f"kappa {self.kappa:.3f}, accuracy {self.accuracy:.3f} "
            f"over {self.epochs} epochs of {self.nights} nights"
        )


def split_nights(run_dir: Path, split: str = "test") -> list[str]:
    """The night names of one split of a run, from its ``splits.json`` (needs ``data.id``)."""
    plan = json.loads((Path(run_dir) / "splits.json").read_text())
    if "ids" not in plan:
        raise ValueError(f"{run_dir}/splits.json names no nights: give its spec a 'data.id'")
    fold = plan["folds"][0]
    if split not in fold:
        raise ValueError(f"{run_dir} has no {split!r} split; it has {sorted(fold)}")
    return [str(plan["ids"][i]) for i in fold[split]]


def read_predictions(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    missing = {"epoch", "prediction", "target"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path} lacks the columns {sorted(missing)}; predict a labelled file")
    return frame


def _stage_names(frame: pd.DataFrame) -> np.ndarray:
    """The target as class names: codes 0..K-1 name the classes in ``proba_<class>`` order."""
    classes = [c.removeprefix("proba_") for c in frame.columns if c.startswith("proba_")]
    target: np.ndarray = frame["target"].astype(str).to_numpy()
    if np.isin(target, classes).all() or not classes:
        return target
    codes = pd.to_numeric(frame["target"], errors="coerce").to_numpy()
    known = np.isfinite(codes) & (codes >= 0) & (codes < len(classes))
    names = np.full(len(frame), "", dtype=object)
    names[known] = np.asarray(classes, dtype=object)[codes[known].astype(int)]
    return names


def score(predictions: Path, nights: Sequence[str] | None = None) -> Score:
    """Kappa and accuracy of ``predictions`` over ``nights`` (default: every night in it)."""
    from sklearn.metrics import cohen_kappa_score

    frame = read_predictions(Path(predictions))
    key = "record" if "record" in frame.columns else frame.columns[0]
    if nights is not None:
        absent = sorted(set(nights) - set(frame[key].astype(str)))
        if absent:
            raise ValueError(f"{predictions} has no predictions for {', '.join(absent[:5])}")
        frame = frame[frame[key].astype(str).isin(set(nights))]
    true = _stage_names(frame)
    pred = frame["prediction"].astype(str).to_numpy()
    scored = true != ""  # unscored epochs count for neither
    true, pred = true[scored].astype(str), pred[scored]
    return Score(
        kappa=float(cohen_kappa_score(true, pred)),
        accuracy=float(np.mean(true == pred)),
        nights=int(frame[key].nunique()),
        epochs=len(true),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("predictions", type=Path, help="CSV or Parquet from trainspec predict")
    parser.add_argument("--nights-of", type=Path, help="run whose split names the nights")
    parser.add_argument("--split", default="test", help="that run's split (default: test)")
    args = parser.parse_args(argv)
    try:
        nights = split_nights(args.nights_of, args.split) if args.nights_of else None
        print(score(args.predictions, nights))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
