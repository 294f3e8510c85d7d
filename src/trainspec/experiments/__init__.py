"""Orchestration: which runs happen and where their results go.

``run_experiment`` runs one job spec (every fold of a cross-validation); ``run_sweep`` runs the
hyperparameter search of a spec's ``sweep:`` block, each trial a normal run; the run store
lists, compares and promotes runs; ``write_report`` makes a self-contained HTML report
(``render_report_page`` and ``render_report_plot`` draw its pages and plots).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainspec.experiments._fold import compat_fields
    from trainspec.experiments._preflight import check_spec, deep_check, spec_problems
    from trainspec.experiments._report import write_report
    from trainspec.experiments._report_page import render_report_page
    from trainspec.experiments._report_plot import render_report_plot
    from trainspec.experiments._run import RunResult, run_experiment
    from trainspec.experiments._runs import (
        RunInfo,
        compare_runs,
        find_runs,
        promote_run,
        resolve_run,
        run_details,
    )
    from trainspec.experiments._sweep import SweepResult, run_sweep
    from trainspec.experiments._sweep_best import (
        BestTrial,
        best_trial_spec,
        export_best,
        sweep_result,
    )
    from trainspec.experiments._sweep_plan import plan_sweep
    from trainspec.experiments._sweep_study import SweepError
    from trainspec.experiments._ui import run_ui

__all__ = [
    "BestTrial",
    "RunInfo",
    "RunResult",
    "SweepError",
    "SweepResult",
    "best_trial_spec",
    "check_spec",
    "compare_runs",
    "compat_fields",
    "deep_check",
    "export_best",
    "find_runs",
    "plan_sweep",
    "promote_run",
    "render_report_page",
    "render_report_plot",
    "resolve_run",
    "run_details",
    "run_experiment",
    "run_sweep",
    "run_ui",
    "spec_problems",
    "sweep_result",
    "write_report",
]

# Each public name and the module that defines it, imported when the name is first used
# (PEP 562): ``check_spec`` (``trainspec validate``) loads the pre-flight checks alone, not
# the runs, sweeps and reports and the libraries behind them.
_LAZY = {
    "BestTrial": "trainspec.experiments._sweep_best",
    "RunInfo": "trainspec.experiments._runs",
    "RunResult": "trainspec.experiments._run",
    "SweepError": "trainspec.experiments._sweep_study",
    "SweepResult": "trainspec.experiments._sweep",
    "best_trial_spec": "trainspec.experiments._sweep_best",
    "check_spec": "trainspec.experiments._preflight",
    "compare_runs": "trainspec.experiments._runs",
    "compat_fields": "trainspec.experiments._fold",
    "deep_check": "trainspec.experiments._preflight",
    "export_best": "trainspec.experiments._sweep_best",
    "find_runs": "trainspec.experiments._runs",
    "plan_sweep": "trainspec.experiments._sweep_plan",
    "promote_run": "trainspec.experiments._runs",
    "render_report_page": "trainspec.experiments._report_page",
    "render_report_plot": "trainspec.experiments._report_plot",
    "resolve_run": "trainspec.experiments._runs",
    "run_details": "trainspec.experiments._runs",
    "run_experiment": "trainspec.experiments._run",
    "run_sweep": "trainspec.experiments._sweep",
    "run_ui": "trainspec.experiments._ui",
    "spec_problems": "trainspec.experiments._preflight",
    "sweep_result": "trainspec.experiments._sweep_best",
    "write_report": "trainspec.experiments._report",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
