"""Orchestration: which runs happen and where their results go.

``run_experiment`` runs one job spec (every fold of a cross-validation); ``run_sweep`` runs the
hyperparameter search of a spec's ``sweep:`` block, each trial a normal run; the run store
lists, compares and promotes runs; ``write_report`` makes a self-contained HTML report.
"""

from trainspec.experiments._fold import compat_fields
from trainspec.experiments._preflight import check_spec, deep_check, spec_problems
from trainspec.experiments._report import write_report
from trainspec.experiments._run import RunResult, run_experiment
from trainspec.experiments._rundir import atomic_write_text, read_json, write_json
from trainspec.experiments._runs import (
    RunInfo,
    compare_runs,
    find_runs,
    promote_run,
    resolve_run,
    run_details,
)
from trainspec.experiments._sweep import SweepResult, run_sweep
from trainspec.experiments._sweep_best import BestTrial, best_trial_spec, export_best, sweep_result
from trainspec.experiments._sweep_plan import plan_sweep
from trainspec.experiments._sweep_study import SweepError
from trainspec.experiments._ui import run_ui

__all__ = [
    "BestTrial",
    "RunInfo",
    "RunResult",
    "SweepError",
    "SweepResult",
    "atomic_write_text",
    "best_trial_spec",
    "check_spec",
    "compare_runs",
    "compat_fields",
    "deep_check",
    "export_best",
    "find_runs",
    "plan_sweep",
    "promote_run",
    "read_json",
    "resolve_run",
    "run_details",
    "run_experiment",
    "run_sweep",
    "run_ui",
    "spec_problems",
    "sweep_result",
    "write_json",
    "write_report",
]
