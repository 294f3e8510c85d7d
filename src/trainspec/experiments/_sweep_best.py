"""Reading a sweep back: its study, its best trial(s), and a best trial's complete job spec."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainspec.experiments._sweep import best_trials, summarize_study, trial_record
from trainspec.experiments._sweep_plan import SweepPlan, plan_from_data, plan_sweep
from trainspec.experiments._sweep_study import SweepError
from trainspec.experiments._sweep_worker import MANIFEST, connect_study, read_manifest
from trainspec.files import atomic_write_text
from trainspec.spec import dump_yaml

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

__all__ = ["BestTrial", "best_trial_spec", "export_best", "open_sweep"]


@dataclass
class BestTrial:
    """A chosen trial: its record (number, values, params, run_dir) and its complete spec."""

    record: dict[str, Any]
    spec: dict[str, Any]
    plan: SweepPlan


def open_sweep(
    *sources: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()
) -> tuple[SweepPlan, optuna.Study]:
    """The plan and study of an existing sweep, from its spec or from its folder."""
    if len(sources) == 1 and isinstance(sources[0], str | Path) and Path(sources[0]).is_dir():
        folder = Path(sources[0])
        if not (folder / MANIFEST).is_file():
            raise SweepError(f"{folder} is not a sweep folder: it has no {MANIFEST}")
        manifest = read_manifest(folder)
        plan = plan_from_data(manifest["spec"], files=manifest.get("files", ()), check=False)
        # The folder may have been moved since: trust where it is now.
        plan = _moved(plan, folder)
    else:
        plan = plan_sweep(*sources, overrides=overrides, check=False)
        if plan.sweep.storage is None and not (plan.sweep_dir / MANIFEST).is_file():
            raise SweepError(
                f"there is no sweep {plan.name!r} in {plan.sweep_dir}: run `trainspec sweep` "
                "on this spec first"
            )
    try:
        study, _ = connect_study(plan, worker=0, create=False)
    except KeyError:
        raise SweepError(
            f"there is no study {plan.name!r} in {plan.storage}: run `trainspec sweep` on this "
            "spec first"
        ) from None
    return plan, study


def _moved(plan: SweepPlan, folder: Path) -> SweepPlan:
    from dataclasses import replace

    if plan.sweep_dir.resolve() == folder.resolve():
        return plan
    storage = plan.storage
    default = "sqlite:///" + (plan.sweep_dir.resolve() / "study.db").as_posix()
    if storage == default:
        storage = "sqlite:///" + (folder.resolve() / "study.db").as_posix()
    return replace(plan, sweep_dir=folder, storage=storage)


def _choose(plan: SweepPlan, study: optuna.Study, number: int | None) -> FrozenTrial:
    from optuna.trial import TrialState

    if number is not None:
        trials = study.get_trials(deepcopy=False)
        if not 0 <= number < len(trials):
            raise SweepError(
                f"sweep {plan.name!r} has no trial {number}; its trials are 0..{len(trials) - 1}"
            )
        if trials[number].state != TrialState.COMPLETE:
            raise SweepError(
                f"trial {number} of sweep {plan.name!r} is {trials[number].state.name}, not "
                "COMPLETE: choose a completed trial"
            )
        return trials[number]
    best = best_trials(plan, study)
    if not best:
        raise SweepError(f"sweep {plan.name!r} has no completed trial yet")
    if len(best) > 1:
        front = ", ".join(f"{t.number} ({', '.join(f'{v:.4g}' for v in t.values)})" for t in best)
        raise SweepError(
            f"sweep {plan.name!r} has several objectives and {len(best)} trials on its Pareto "
            f"front: {front}. Choose one with --trial N"
        )
    return best[0]


def best_trial_spec(
    *sources: str | Path | Mapping[str, Any],
    overrides: Sequence[str] = (),
    trial: int | None = None,
) -> BestTrial:
    """The best (or the chosen) trial and its complete job spec, without the sweep block."""
    plan, study = open_sweep(*sources, overrides=overrides)
    chosen = _choose(plan, study, trial)
    spec = plan.trial_data(plan.space.decode(chosen.params))
    return BestTrial(trial_record(plan, chosen), spec, plan)


def export_best(
    *sources: str | Path | Mapping[str, Any],
    out: str | Path,
    overrides: Sequence[str] = (),
    trial: int | None = None,
) -> BestTrial:
    """Write the chosen trial's complete job spec to ``out``: ``trainspec train out`` repeats
    the trial (same data, split, seed and parameters: the same numbers on CPU)."""
    best = best_trial_spec(*sources, overrides=overrides, trial=trial)
    values = ", ".join(
        f"{m} = {v:.6g} ({d})"
        for (m, d), v in zip(
            [(g.metric, g.direction) for g in best.plan.goals],
            best.record["values"].values(),
            strict=False,
        )
    )
    threads = best.record.get("torch_threads")
    repeat = f"trainspec train {Path(out).name}"
    if threads is not None:
        # The numbers of a CPU run depend on its thread count: name the trial's.
        repeat = f"OMP_NUM_THREADS={threads} {repeat}   (the trial ran on {threads} thread(s))"
    header = (
        f"# trial {best.record['number']} of sweep {best.plan.name}: {values}\n"
        f"# its run: {best.record['run_dir']}\n"
        f"# repeat it: {repeat}\n"
    )
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, header + dump_yaml(best.spec))
    return best


def sweep_result(*sources: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()) -> Any:
    plan, study = open_sweep(*sources, overrides=overrides)
    return summarize_study(plan, study, "finished")
