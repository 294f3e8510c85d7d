"""``write_report``: one self-contained HTML file for a run or a sweep.

Plots are drawn with matplotlib (``_report_plot``; a sweep's with optuna.visualization's
matplotlib functions) and written inline as SVG; the page comes from the jinja2 templates in
``trainspec/templates``, styles inline, no external file, font or script: it opens offline. A
run's report has its learning curves, per-fold results, a confusion matrix (or residual plots)
on the validation split, the resolved spec and the environment. A sweep's has the trials, the
optimisation history, parameter importances, parallel coordinates, the Pareto front (several
objectives) and the learning curves of the best trials.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from trainspec.errors import TrainspecError
from trainspec.experiments._report_page import render_report_page
from trainspec.experiments._report_run import curves, prediction_plots
from trainspec.files import RunDir

__all__ = ["write_report"]

log = logging.getLogger(__name__)


# -- a run --------------------------------------------------------------------------------


def _summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The summary's tables as rows: per fold and mean/std for a cross-validation, else the
    final and best value of every metric."""
    out: dict[str, Any] = {"test": list((summary.get("test") or {}).items()), "folds": None}
    if summary.get("cv"):
        folds = summary.get("folds") or []
        keys = sorted({k for f in folds for k in f.get("best", {})})
        out["cv"] = [[k, v["mean"], v["std"]] for k, v in summary["cv"].items()]
        out["fold_metrics"] = keys
        out["folds"] = [
            [i, f.get("best_epoch"), *(f["best"].get(k) for k in keys)] for i, f in enumerate(folds)
        ]
    else:
        final, best = summary.get("final", {}), summary.get("best", {})
        out["metrics"] = [[k, final.get(k), best.get(k)] for k in final]
        out["best_epoch"] = summary.get("best_epoch")
    return out


def _run_page(run: Path, title: str, subtitle: str) -> str:
    rd = RunDir(run)
    summary = rd.read_or(rd.SUMMARY) or {}
    config = rd.read_config()
    folds = [f.path for f in rd.folds()]
    histories = {f"fold {p.name}": RunDir(p).read_metrics() for p in folds} or {
        "": rd.read_metrics()
    }
    predict_dir = folds[0] if folds else run
    plots, note = prediction_plots(predict_dir, config, model_dir=RunDir(predict_dir).model)
    caption = "the saved (final) model on the validation split" + (" of fold 0" if folds else "")
    return render_report_page(
        "run.html.j2",
        title=title,
        subtitle=subtitle,
        summary=_summary(summary),
        plots={"curves": curves(histories), "predictions": plots},
        caption=caption,
        note=note,
        spec=yaml.safe_dump(config, sort_keys=False),
        environment=json.dumps(rd.read_or(rd.ENVIRONMENT), indent=2),
    )


# -- a sweep ------------------------------------------------------------------------------


def _sweep_page(folder: Path, title: str) -> str:
    from optuna.trial import TrialState

    from trainspec.experiments._report_sweep import sweep_plots
    from trainspec.experiments._sweep import best_trials, summarize_study
    from trainspec.experiments._sweep_best import open_sweep

    plan, study = open_sweep(folder)
    result = summarize_study(plan, study, "finished")
    goals = result.goals
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    names = plan.space.names
    rows = [
        [
            t.number,
            t.state.name,
            *(t.values or [None] * len(goals)),
            *(plan.space.decode(t.params).get(n) for n in names),
        ]
        for t in trials
    ]
    logs = {n for n in names if plan.space.is_log(n)}
    plots, note = sweep_plots(study, goals, names, logs, len(complete))
    best = {t.number for t in best_trials(plan, study)}
    top = [t for t in complete if t.number in best][:8]
    histories = {f"trial {t.number}": RunDir(plan.trial_dir(t.number)).read_metrics() for t in top}
    return render_report_page(
        "sweep.html.j2",
        title=title,
        subtitle=f"sweep {plan.name} · {len(trials)} trials · storage {plan.storage}",
        counts=sorted(result.counts.items()),
        goals=goals,
        metrics=[m for m, _ in goals],
        params=names,
        trials=rows,
        plots={"optimisation": plots, "curves": curves(histories)},
        note=note,
        spec=yaml.safe_dump(plan.data, sort_keys=False),
    )


def write_report(target: str | Path, out: str | Path) -> Path:
    """Write the HTML report of ``target`` (a run directory or a sweep folder) to ``out``."""
    folder = Path(target)
    if (folder / "sweep.json").is_file():
        page = _sweep_page(folder, f"trainspec sweep report: {folder.name}")
    elif folder.is_dir() and RunDir(folder).is_run():
        status = (RunDir(folder).read_or(RunDir.SUMMARY) or {}).get("status", "incomplete")
        page = _run_page(
            folder, f"trainspec run report: {folder.name}", f"{folder} · status {status}"
        )
    else:
        raise TrainspecError(
            f"{folder} is neither a run directory (config.yaml with metrics.jsonl or "
            "summary.json) nor a sweep folder (sweep.json): name one of those"
        )
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
