"""Time budgets of the suite's slow classes, printed at the end of every run.

``make test`` must stay under 25 minutes on 2 cores as the suite grows. Each slow class of
tests (the PostgreSQL cluster, torchrun processes, the Airflow and Kubeflow SDKs, the fault
batteries, ...) has a budget in seconds of test time (set-up, call and tear-down summed over
its tests, whichever worker ran them); the summary lists each class's time against its
budget, so a class that grows past it is seen in the run that made it grow. It reports, it
does not fail the run: a busy machine must not turn timings into failures.
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

__all__ = ["BUDGETS", "Budget"]


@dataclass(frozen=True)
class Budget:
    name: str
    patterns: Sequence[str]  # test files, as globs relative to the repository
    seconds: float


BUDGETS = (
    Budget("PostgreSQL sweeps", ["tests/integration/test_sweep_postgres.py"], 90),
    Budget("data-parallel (torchrun, gloo)", ["tests/integration/test_distributed*.py"], 240),
    Budget("Airflow and Kubeflow exports", ["tests/integration/test_pipeline_export.py"], 420),
    Budget("pipelines", ["tests/integration/test_pipeline.py"], 150),
    Budget("fault batteries", ["tests/integration/test_faults_*.py", "tests/unit/battery/*"], 300),
    Budget("sweeps", ["tests/integration/test_sweep_[!p]*.py"], 240),
    Budget("serving", ["tests/integration/test_serve*.py", "tests/integration/test_ui.py"], 150),
    Budget("MLflow models", ["tests/integration/test_mlflow_model.py"], 150),
    Budget(
        "examples and flagship",
        ["tests/integration/test_examples.py", "tests/integration/test_sleep_staging.py"],
        300,
    ),
    Budget("bare install", ["tests/integration/test_bare_install.py"], 150),
    Budget("other integration tests", ["tests/integration/*"], 600),
    Budget("unit tests", ["tests/unit/*"], 600),
)


def budget_of(path: str) -> Budget | None:
    """The first budget whose patterns match ``path`` (a node id's file part)."""
    for budget in BUDGETS:
        if any(fnmatch.fnmatch(path, p) for p in budget.patterns):
            return budget
    return None


class BudgetReport:
    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self.tests: dict[str, set[str]] = defaultdict(set)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        budget = budget_of(report.nodeid.split("::", 1)[0])
        if budget is not None:
            self.spent[budget.name] += report.duration
            self.tests[budget.name].add(report.nodeid)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.spent:
            return
        write = terminalreporter.write_line
        terminalreporter.section("time budgets (test seconds, all workers)")
        for budget in BUDGETS:
            spent = self.spent.get(budget.name)
            if spent is None:
                continue
            mark = "  OVER BUDGET" if spent > budget.seconds else ""
            write(
                f"{budget.name:32s} {spent:6.0f} s of {budget.seconds:4.0f} s "
                f"({len(self.tests[budget.name])} tests){mark}"
            )


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller sees every worker's reports
        config.pluginmanager.register(BudgetReport(), "trainspec-budgets")
