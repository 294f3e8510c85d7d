"""`make demo`: the sleep-staging example end to end, as a user would run it.

1. Generate the two SYNTHETIC ECG cohorts (once; reused while the generator's parameters stay).
2. ``trainspec train sleep_staging/pretrain.yaml``: pretrain on cohort A.
3. ``trainspec train sleep_staging/finetune.yaml finetune.init.from=<pretrain run>``: start
   from its best checkpoint, freeze all but the head, train that on cohort B.
4. ``trainspec predict``: stage every night of a cohort with a run's best checkpoint.
5. ``sleep_staging/score.py``: Cohen's kappa over the held-out nights (a run's test split:
   subjects that run never trained on).

Then it prints the kappa table, the run directories, and the command behind every number.
Every run goes under ``runs/sleep_staging/demo-<time>/``; ``--out DIR`` picks another folder.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE / "sleep_staging"
sys.path.insert(0, str(EXAMPLE))

import generate  # noqa: E402  (the example's own modules, beside its specs)
import score  # noqa: E402


@dataclass
class Row:
    model: str
    scored_on: str
    commands: list[list[str]]
    result: score.Score | None = None


def _show(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _line(cmd: Sequence[str]) -> str:
    return " ".join(shlex.quote(c) for c in cmd)


def _call(cmd: list[str], quiet: bool) -> None:
    """Run ``trainspec ...`` (or ``python script ...``) as a user would, echoing it first."""
    print(f"\n$ {_line(cmd)}", flush=True)
    head = [sys.executable, "-m", "trainspec"] if cmd[0] == "trainspec" else [sys.executable]
    tail = [*cmd[1:], "--quiet"] if quiet and cmd[:2] == ["trainspec", "train"] else cmd[1:]
    subprocess.run([*head, *tail], check=True)


def _train_both(out: Path, quiet: bool) -> tuple[Path, Path]:
    pre, fine = out / "pretrain", out / "finetune"
    _call(["trainspec", "train", _show(EXAMPLE / "pretrain.yaml"), "--run-dir", _show(pre)], quiet)
    init = f"finetune.init.from={_show(pre)}"
    spec = _show(EXAMPLE / "finetune.yaml")
    _call(["trainspec", "train", spec, init, "--run-dir", _show(fine)], quiet)
    return pre, fine


def _predict_and_score(pre: Path, fine: Path, data: dict[str, Path], out: Path) -> list[Row]:
    cases = [
        ("pretrained on A", pre, "A", pre),
        ("pretrained on A", pre, "B", fine),
        ("fine-tuned on B", fine, "B", fine),
    ]
    rows = []
    for model, run_dir, cohort, nights_of in cases:
        csv = _show(out / f"{run_dir.name}_on_{cohort}.csv")
        predict = ["trainspec", "predict", _show(run_dir), "--data", _show(data[cohort])]
        predict += ["--out", csv]
        scoring = ["python", _show(EXAMPLE / "score.py"), csv, "--nights-of", _show(nights_of)]
        _call(predict, quiet=True)
        row = Row(model, f"cohort {cohort}: test nights of {nights_of.name}/", [predict, scoring])
        row.result = score.score(Path(csv), score.split_nights(nights_of, "test"))
        rows.append(row)
    return rows


def _table(rows: Sequence[Row]) -> str:
    lines = [f"  {'model':<16} {'scored on':<34} {'nights':>6} {'epochs':>6} {'kappa':>6}"]
    lines.append("  " + "-" * (len(lines[0]) - 2))
    for r in rows:
        assert r.result is not None
        n, e, k = r.result.nights, r.result.epochs, r.result.kappa
        lines.append(f"  {r.model:<16} {r.scored_on:<34} {n:>6} {e:>6} {k:>6.3f}")
    return "\n".join(lines)


def _report(rows: Sequence[Row], pre: Path, fine: Path, out: Path, took: float) -> None:
    print(f"\nCohen's kappa on held-out nights (SYNTHETIC data; {took:.0f} s in all)\n")
    print(_table(rows))
    print("\nrun directories:")
    print(f"  pretrained on cohort A:  {_show(pre)}")
    print(f"  fine-tuned on cohort B:  {_show(fine)}")
    print(f"  predictions (CSV):       {_show(out)}")
    print("\neach kappa again (training is seeded and deterministic: same numbers):")
    for r in rows:
        print("  " + " && \\\n    ".join(_line(c) for c in r.commands))


def run(out: Path, *, quiet: bool) -> list[Row]:
    """Generate, pretrain, fine-tune, predict, score; print the table. Returns its rows."""
    started = time.perf_counter()
    data_dir = EXAMPLE / "data"
    print(f"synthetic data: {_show(data_dir)} (generated once, then reused)", flush=True)
    data = generate.generate(data_dir)
    pre, fine = _train_both(out, quiet)
    rows = _predict_and_score(pre, fine, data, out / "predictions")
    _report(rows, pre, fine, out / "predictions", time.perf_counter() - started)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    stamp = time.strftime("demo-%Y%m%d-%H%M%S")
    parser.add_argument("--out", type=Path, default=Path("runs") / "sleep_staging" / stamp)
    parser.add_argument("--quiet", action="store_true", help="no per-epoch training lines")
    args = parser.parse_args(argv)
    try:
        run(args.out, quiet=args.quiet)
    except subprocess.CalledProcessError as exc:
        print(f"demo stopped: {_line(exc.cmd)} exited with {exc.returncode}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
