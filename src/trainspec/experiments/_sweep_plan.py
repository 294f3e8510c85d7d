"""A sweep's plan: the job spec without its ``sweep:`` block, the search space, the objectives,
the sweep folder, checked before any trial starts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainspec.errors import Problem, SpecError, TrainspecError, closest
from trainspec.experiments._sweep_space import SearchSpace
from trainspec.experiments._sweep_study import storage_url
from trainspec.files import path_under, safe_name
from trainspec.spec import LoadedSpec, SweepSpec, load_spec, spec_hash

__all__ = ["PARAMS_METRIC", "Goal", "SweepPlan", "direction_of", "plan_from_data", "plan_sweep"]

# The objective name that means "the model's parameter count".
PARAMS_METRIC = "params"
_KFOLD = ("kfold", "stratified_kfold", "group_kfold")


@dataclass(frozen=True)
class Goal:
    metric: str
    direction: str  # maximize | minimize


@dataclass(frozen=True)
class SweepPlan:
    """Everything a worker needs to run trials; built by ``plan_sweep``."""

    name: str
    sweep_dir: Path
    data: dict[str, Any]  # the resolved spec, sweep block included
    base: LoadedSpec  # the job spec without the sweep block
    sweep: SweepSpec
    space: SearchSpace
    goals: tuple[Goal, ...]
    storage: str
    files: tuple[str, ...] = ()

    @property
    def directions(self) -> list[str]:
        return [g.direction for g in self.goals]

    @property
    def prunes(self) -> bool:
        return self.sweep.prunes

    @property
    def fingerprint(self) -> str:
        """What a resumed sweep must share with the one it continues: the base spec, the
        search space and the objectives (not n_trials, timeout, workers or sampler)."""
        keep = {
            "base": self.base.data,
            "params": self.data["sweep"]["params"],
            "goals": [(g.metric, g.direction) for g in self.goals],
            "value": self.sweep.value,
            "storage": self.storage,
        }
        return spec_hash(keep)

    @property
    def budget(self) -> int | None:
        """How many trials count in all: ``n_trials``; for a grid, at most its size; None for
        a time budget only."""
        if self.sweep.sampler.type == "grid":
            size = len(self.space.grid())
            return size if self.sweep.n_trials is None else min(size, self.sweep.n_trials)
        return self.sweep.n_trials

    def trial_dir(self, number: int) -> Path:
        return self.sweep_dir / "trials" / f"{number:04d}"

    def trial_data(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The complete job spec of a trial, from decoded (spec) values."""
        return self.space.apply(self.base.data, values)

    def trial_run_data(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The job spec a trial runs: ``trial_data`` with the sweep's checkpoint policy.

        ``sweep.checkpoint: end`` checkpoints a trial once, when it ends (its best epoch held
        in memory until then): a retried trial starts afresh in a new folder, so checkpoints
        taken along the way would only cost time. The exported spec (``sweep best
        --export``) keeps the job's own ``train.checkpoint``.
        """
        data = self.trial_data(values)
        if self.sweep.checkpoint == "end":
            train = dict(data.get("train") or {})
            policy = {"every_epochs": None, "every_steps": None, "best_at_end": True}
            train["checkpoint"] = {**(train.get("checkpoint") or {}), **policy}
            data = {**data, "train": train}
        return data


def _without_sweep(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "sweep"}


def _logged_metrics(base: LoadedSpec) -> tuple[set[str], bool]:
    """The keys a run of ``base`` reports, and whether it has a validation split."""
    from trainspec.metrics import DEFAULT_METRICS

    job = base.job
    assert job is not None
    names = list(job.train.metrics)
    if not names:
        tasks = [job.task] if job.task != "auto" else list(DEFAULT_METRICS)
        names = [m for t in tasks for m in DEFAULT_METRICS[t]]
    names = [n.rsplit(":", 1)[-1].rsplit(".", 1)[-1] for n in names]  # import paths: the name
    split = job.data.split
    has_val = split.method in _KFOLD or split.method == "predefined" or "val" in split.ratios
    has_test = split.method == "predefined" or "test" in split.ratios
    keys = {PARAMS_METRIC, "train/loss", "lr"} | {f"train/{n}" for n in names}
    if has_val:
        keys |= {"val/loss"} | {f"val/{n}" for n in names}
    if has_test:
        keys |= {"test/loss"} | {f"test/{n}" for n in names}
    return keys, has_val


def direction_of(metric: str, given: str | None, base: LoadedSpec) -> str:
    """``given``, else minimize for losses, errors and ``params``, else maximize."""
    if given is not None:
        return given
    if metric == PARAMS_METRIC:
        return "minimize"
    from trainspec.metrics import get_metric, metric_mode

    job = base.job
    assert job is not None
    name = metric.rsplit("/", 1)[-1]
    try:
        metrics = {name: get_metric(name, allow=job.allow_imports)}
    except TrainspecError:
        metrics = {}
    return "minimize" if metric_mode(metric, metrics) == "min" else "maximize"


def _check_goals(sweep: SweepSpec, base: LoadedSpec) -> tuple[Goal, ...]:
    keys, has_val = _logged_metrics(base)
    problems = []
    goals = []
    for i, goal in enumerate(sweep.goals):
        where: tuple[str | int, ...] = (
            ("sweep", "objectives", i, "metric") if sweep.objectives else ("sweep", "metric")
        )
        if goal.metric not in keys:
            near = closest(goal.metric, keys)
            why = f"metric {goal.metric!r} is never logged by this job"
            if goal.metric.startswith("val/") and not has_val:
                why += " (it has no validation split: add 'val' to data.split.ratios)"
            hint = f"did you mean {near!r}? " if near else ""
            hint += f"it logs {', '.join(sorted(keys))}; add the metric to train.metrics"
            problems.append(Problem(why, where, hint=hint))
            continue
        goals.append(Goal(goal.metric, direction_of(goal.metric, goal.direction, base)))
    if problems:
        raise SpecError(problems)
    return tuple(goals)


def load_full(
    sources: Sequence[str | Path | Mapping[str, Any]], overrides: Sequence[str] = ()
) -> LoadedSpec:
    loaded = load_spec(*sources, overrides=overrides)
    if loaded.job is None:
        raise TrainspecError(
            f"{', '.join(loaded.files) or 'the spec'} is an architecture spec; a sweep needs a "
            "job spec with a 'sweep:' block"
        )
    if not isinstance(loaded.data.get("sweep"), Mapping):
        raise TrainspecError(
            f"{', '.join(loaded.files) or 'the spec'} has no 'sweep:' block: add one (see "
            "docs/sweeps.md), or name the file that has it after the job spec"
        )
    return loaded


def plan_sweep(
    *sources: str | Path | Mapping[str, Any],
    overrides: Sequence[str] = (),
    check: bool = True,
) -> SweepPlan:
    """Load the spec, split off ``sweep:``, and check the search space and objectives.

    With ``check`` (the default) every path and every extreme value of the search space is
    tried against the schema, and each objective's metric against what training logs.
    """
    full = load_full(sources, overrides)
    return plan_from_data(full.data, files=full.files, check=check)


def plan_from_data(
    data: Mapping[str, Any], *, files: Sequence[str] = (), check: bool = True
) -> SweepPlan:
    sweep = SweepSpec.model_validate(data["sweep"])
    base = load_spec(_without_sweep(data))
    job = base.job
    assert job is not None
    space = SearchSpace(sweep)
    if check:
        space.check(base.data)
    goals = _check_goals(sweep, base)
    if sweep.sampler.type == "grid":
        space.grid()  # a float without a step fails here, before any trial
    fallback = Path(files[0]).stem if files else "sweep"
    what = "sweep.name" if sweep.name else ("job name" if job.name else "spec file name")
    name = safe_name(sweep.name or job.name or fallback, what=what, fallback="sweep")
    sweep_dir = path_under(Path(job.run.root), "sweeps", name)
    return SweepPlan(
        name=name,
        sweep_dir=sweep_dir,
        data=dict(data),
        base=base,
        sweep=sweep,
        space=space,
        goals=goals,
        storage=storage_url(sweep, sweep_dir),
        files=tuple(files),
    )
