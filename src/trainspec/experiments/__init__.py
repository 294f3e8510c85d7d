"""Orchestration: which runs happen and where their results go."""

from trainspec.experiments._run import RunResult, compat_fields, run_experiment

__all__ = ["RunResult", "compat_fields", "run_experiment"]
