"""A sweep's plots, from ``optuna.visualization.matplotlib`` in the report's style: the
optimisation history (or the Pareto front of the first two objectives), parallel coordinates
(a parameter sampled on a log scale gets a log axis, its name marked ``(log)``) and fANOVA
parameter importances."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from trainspec.experiments._report_plot import Tips, load_matplotlib, render_report_plot

if TYPE_CHECKING:
    import optuna
    from matplotlib.figure import Figure
    from optuna.trial import FrozenTrial

__all__ = ["parallel_axes", "sweep_plots"]

Goals = Sequence[tuple[str, str]]


def _optuna_plot(title: str, draw: Callable[[], Any]) -> str:
    """``draw`` returns the Axes an ``optuna.visualization.matplotlib`` function made."""
    from optuna.exceptions import ExperimentalWarning

    def build() -> tuple[Figure, Tips]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            warnings.simplefilter("ignore", UserWarning)  # "no completed trials", ...
            ax = draw()
        for loc in ("left", "right"):
            ax.set_title("", loc=loc)  # Optuna's own titles
        ax.set_title(title, pad=12)
        ax.figure.set_size_inches(6.4, 4.2)
        return ax.figure, {}

    return render_report_plot(title, build, tight=True)


def _value(i: int) -> Callable[[FrozenTrial], float]:
    return lambda t: float(t.values[i])


def _history(study: optuna.Study, goals: Goals) -> str:
    from optuna.visualization import matplotlib as ov

    if len(goals) == 1:
        metric, direction = goals[0]
        return _optuna_plot(
            f"optimisation history ({metric}, {direction})",
            lambda: ov.plot_optimization_history(study, target_name=metric),
        )
    names = [m for m, _ in goals[:2]]
    return _optuna_plot(
        f"Pareto front ({names[0]}, {names[1]})",
        lambda: ov.plot_pareto_front(
            study, targets=lambda t: (t.values[0], t.values[1]), target_names=names
        ),
    )


def parallel_axes(study: optuna.Study, goals: Goals, params: Sequence[str], logs: set[str]) -> Any:
    """Optuna's parallel coordinates (log-sampled parameters on log axes) with the names of
    those parameters marked ``(log)``; returns the main Axes."""
    from optuna.visualization import matplotlib as ov

    target = _value(0) if len(goals) > 1 else None
    ax = ov.plot_parallel_coordinate(
        study, params=list(params), target=target, target_name=goals[0][0]
    )
    names = [t.get_text() for t in ax.get_xticklabels()]
    marked = [f"{n} (log)" if n in logs else n for n in names]
    ax.set_xticks(ax.get_xticks(), marked, rotation=20, ha="right")
    return ax


def _importances(study: optuna.Study, goals: Goals) -> tuple[list[str], str | None]:
    import optuna
    from optuna.visualization import matplotlib as ov

    def draw(i: int, metric: str) -> Callable[[], Any]:
        return lambda: ov.plot_param_importances(
            study,
            evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
            target=_value(i) if len(goals) > 1 else None,
            target_name=metric,
        )

    plots = []
    try:
        for i, (metric, _) in enumerate(goals):
            plots.append(_optuna_plot(f"parameter importance for {metric}", draw(i, metric)))
    except Exception as exc:  # too few trials, one value only, ...
        return plots, f"parameter importances need more completed trials ({exc})"
    return plots, None


def sweep_plots(
    study: optuna.Study, goals: Goals, params: Sequence[str], logs: set[str], n_complete: int
) -> tuple[list[str], str | None]:
    """The plots of a sweep with ``n_complete`` completed trials, and a note on any left out."""
    if not n_complete:
        return [], None
    load_matplotlib()  # the Agg backend before Optuna's plots import pyplot
    plots = [_history(study, goals)]
    if n_complete < 2:
        return plots, None
    plots.append(
        _optuna_plot("parallel coordinates", lambda: parallel_axes(study, goals, params, logs))
    )
    importance, note = _importances(study, goals)
    return plots + importance, note
