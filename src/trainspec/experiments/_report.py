"""``write_report``: one self-contained HTML file for a run or a sweep.

Plots are inline SVG, styles inline, no external file, font or script source: the file opens
offline. A run's report has its learning curves, per-fold results, a confusion matrix (or
residual plots) on the validation split, the resolved spec and the environment. A sweep's has
the trials, the optimisation history, parameter importances, parallel coordinates, the Pareto
front (several objectives) and the learning curves of the best trials.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from trainspec.errors import TrainspecError
from trainspec.experiments._report_run import curves, history_of, prediction_plots
from trainspec.experiments._report_svg import bar_chart, parallel_coordinates, scatter
from trainspec.experiments._runs import is_run_dir

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

__all__ = ["write_report"]

log = logging.getLogger(__name__)

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222}
header{background:#243447;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;opacity:.8}main{padding:8px 24px 40px;max-width:1280px}
h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}
.plots{display:flex;flex-wrap:wrap;gap:16px}.note{color:#8a5300}
svg.plot{background:#fff;border:1px solid #e3e3e3;border-radius:4px;max-width:100%;height:auto}
svg .title{font-weight:600;font-size:13px}svg .tick{font-size:10px;fill:#444}
svg .label{font-size:11px;fill:#333}svg .axis{stroke:#555}svg .grid{stroke:#eee}
svg .ref{stroke:#999;stroke-dasharray:4 3}svg .line{fill:none;stroke-width:1.6}
svg .pc{fill:none;stroke-width:1.3}svg .bar{fill:#1f77b4}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f6f8}
td:first-child,th:first-child{text-align:left}
pre{background:#f7f7f7;border:1px solid #e3e3e3;padding:10px;overflow:auto;font-size:12px}
"""

# Marks the page once laid out: how many plots have a size (a headless browser reads it).
_CHECK = """
document.body.dataset.plots=String([...document.querySelectorAll('svg.plot')]
 .filter(s=>s.getBoundingClientRect().width>0).length);
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.5g}" if math.isfinite(value) else str(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return "" if value is None else str(value)


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(title: str, *parts: str) -> str:
    anchor = title.lower().replace(" ", "-")
    return f'<section id="{escape(anchor)}"><h2>{escape(title)}</h2>{"".join(parts)}</section>'


def _plots(plots: Sequence[str]) -> str:
    return f'<div class="plots">{"".join(plots)}</div>' if plots else "<p>no data</p>"


def _page(title: str, subtitle: str, sections: Sequence[str]) -> str:
    made = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<title>{escape(title)}</title><meta name="viewport" '
        f'content="width=device-width,initial-scale=1"><style>{_CSS}</style></head><body>'
        f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)} · report made {made}</p>"
        f"</header><main>{''.join(sections)}</main><script>{_CHECK}</script></body></html>\n"
    )


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _config(run: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


# -- a run --------------------------------------------------------------------------------


def _summary_section(summary: Mapping[str, Any]) -> str:
    parts = []
    if summary.get("cv"):
        rows = [[k, v["mean"], v["std"]] for k, v in summary["cv"].items()]
        parts.append("<h3>cross-validation (best epoch of each fold)</h3>")
        parts.append(_table(["metric", "mean", "std"], rows))
        folds = summary.get("folds") or []
        keys = sorted({k for f in folds for k in f.get("best", {})})
        rows = [
            [i, f.get("best_epoch"), *(f["best"].get(k) for k in keys)] for i, f in enumerate(folds)
        ]
        parts.append("<h3>per fold (best values)</h3>")
        parts.append(_table(["fold", "best epoch", *keys], rows))
    else:
        final, best = summary.get("final", {}), summary.get("best", {})
        rows = [[k, final.get(k), best.get(k)] for k in final]
        parts.append(_table(["metric", "final", "best"], rows))
        parts.append(f"<p>best epoch: {escape(_fmt(summary.get('best_epoch')))}</p>")
    if summary.get("test"):
        parts.append("<h3>test</h3>")
        parts.append(_table(["metric", "value"], list(summary["test"].items())))
    return _section("Summary", *parts)


def _run_sections(run: Path) -> list[str]:
    summary = _read(run / "summary.json") or {}
    config = _config(run)
    folds = (
        sorted((p for p in (run / "folds").iterdir() if p.is_dir()), key=lambda p: int(p.name))
        if (run / "folds").is_dir()
        else []
    )
    histories = {f"fold {p.name}": history_of(p) for p in folds} or {"": history_of(run)}
    predict_dir = folds[0] if folds else run
    plots, note = prediction_plots(predict_dir, config, model_dir=predict_dir / "model")
    caption = "the saved (final) model on the validation split" + (" of fold 0" if folds else "")
    sections = [
        _summary_section(summary),
        _section("Learning curves", _plots(curves(histories))),
        _section(
            "Predictions",
            f"<p>{escape(caption)}</p>",
            f'<p class="note">{escape(note)}</p>' if note else "",
            _plots(plots) if plots else "",
        ),
        _section("Spec", f"<pre>{escape(yaml.safe_dump(config, sort_keys=False))}</pre>"),
        _section(
            "Environment",
            f"<pre>{escape(json.dumps(_read(run / 'environment.json'), indent=2))}</pre>",
        ),
    ]
    return sections


# -- a sweep ------------------------------------------------------------------------------


def _importances(study: Any, goals: Sequence[tuple[str, str]]) -> tuple[list[str], str | None]:
    import optuna

    def objective(i: int) -> Callable[[FrozenTrial], float] | None:
        return (lambda t: float(t.values[i])) if len(goals) > 1 else None

    plots = []
    try:
        for i, (metric, _) in enumerate(goals):
            values = optuna.importance.get_param_importances(
                study,
                evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
                target=objective(i),
            )
            plots.append(bar_chart(f"parameter importance for {metric}", values))
    except Exception as exc:  # too few trials, one value only, ...
        return plots, f"parameter importances need more completed trials ({exc})"
    return plots, None


def _history_plot(complete: Sequence[Any], metric: str, direction: str) -> str:
    pts = [(float(t.number), float(t.values[0])) for t in complete]
    best, steps = None, []
    for x, y in pts:
        if best is None or (y > best if direction == "maximize" else y < best):
            best = y
        steps.append((x, best))
    labels = [f"trial {t.number}: {t.values[0]:.5g}" for t in complete]
    return scatter(
        f"optimisation history ({metric}, {direction})",
        pts,
        xlabel="trial",
        ylabel=metric,
        labels=labels,
        step_line=steps,
    )


def _sweep_sections(folder: Path) -> tuple[str, list[str]]:
    from optuna.trial import TrialState

    from trainspec.experiments._sweep import best_trials, summarize_study
    from trainspec.experiments._sweep_best import open_sweep

    plan, study = open_sweep(folder)
    result = summarize_study(plan, study, "finished")
    goals = result.goals
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    names = plan.space.names
    metrics = [m for m, _ in goals]
    rows = [
        [
            t.number,
            t.state.name,
            *(t.values or [None] * len(goals)),
            *(plan.space.decode(t.params).get(n) for n in names),
        ]
        for t in trials
    ]
    best = {t.number for t in best_trials(plan, study)}
    sections = [
        _section(
            "Summary",
            _table(["state", "trials"], sorted(result.counts.items())),
            _table(["metric", "direction"], goals),
        )
    ]
    plots = []
    if complete and len(goals) == 1:
        plots.append(_history_plot(complete, *goals[0]))
    if len(goals) >= 2 and complete:
        pts = [(float(t.values[0]), float(t.values[1])) for t in complete]
        plots.append(
            scatter(
                "Pareto front (red)",
                pts,
                xlabel=metrics[0],
                ylabel=metrics[1],
                labels=[f"trial {t.number}" for t in complete],
                highlight=[t.number in best for t in complete],
            )
        )
    importance, note = _importances(study, goals) if len(complete) >= 2 else ([], None)
    if len(complete) >= 2:
        decoded = [plan.space.decode(t.params) for t in complete]
        axes = [*names, metrics[0]]
        pc_rows = [
            [_axis_value(d.get(n)) for n in names] + [t.values[0]]
            for d, t in zip(decoded, complete, strict=True)
        ]
        sign = 1.0 if goals[0][1] == "maximize" else -1.0
        plots.append(
            parallel_coordinates(
                "parallel coordinates",
                axes,
                pc_rows,
                color_by=[sign * t.values[0] for t in complete],
                labels=[f"trial {t.number}: {t.values[0]:.5g}" for t in complete],
                log_axes=[plan.space.is_log(n) for n in names],
            )
        )
    sections.append(
        _section(
            "Optimisation",
            _plots(plots + importance),
            f'<p class="note">{escape(note)}</p>' if note else "",
        )
    )
    sections.append(_section("Trials", _table(["trial", "state", *metrics, *names], rows)))
    top = [t for t in complete if t.number in best][:8]
    histories = {f"trial {t.number}": history_of(plan.trial_dir(t.number)) for t in top}
    sections.append(_section("Learning curves of the best trials", _plots(curves(histories))))
    sections.append(
        _section("Spec", f"<pre>{escape(yaml.safe_dump(plan.data, sort_keys=False))}</pre>")
    )
    subtitle = f"sweep {plan.name} · {len(trials)} trials · storage {plan.storage}"
    return subtitle, sections


def _axis_value(value: Any) -> float | str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return json.dumps(value) if not isinstance(value, str) else value
    return float(value)


def write_report(target: str | Path, out: str | Path) -> Path:
    """Write the HTML report of ``target`` (a run directory or a sweep folder) to ``out``."""
    folder = Path(target)
    if (folder / "sweep.json").is_file():
        subtitle, sections = _sweep_sections(folder)
        title = f"trainspec sweep report: {folder.name}"
    elif folder.is_dir() and is_run_dir(folder):
        sections = _run_sections(folder)
        summary = _read(folder / "summary.json") or {}
        title = f"trainspec run report: {folder.name}"
        subtitle = f"{folder} · status {summary.get('status', 'incomplete')}"
    else:
        raise TrainspecError(
            f"{folder} is neither a run directory (config.yaml with metrics.jsonl or "
            "summary.json) nor a sweep folder (sweep.json): name one of those"
        )
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_page(title, subtitle, sections), encoding="utf-8")
    return path
