"""The sweep block, the search space and the checks made before any trial starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.unit.experiments.sweep_support import digits_job
from trainspec.errors import SpecError
from trainspec.experiments._sweep_plan import plan_sweep
from trainspec.experiments._sweep_space import SearchSpace
from trainspec.spec import load_spec
from trainspec.spec._schema_sweep import SweepSpec

LR = {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}


def sweep(**kw: Any) -> dict[str, Any]:
    return {"metric": "val/accuracy", "n_trials": 4, "params": {"train.optimizer.lr": LR}, **kw}


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ({"type": "float", "low": 1.0, "high": 0.1}, "is inverted"),
        ({"type": "float", "low": 0.5, "high": 0.5}, "is empty"),
        ({"type": "int", "low": 8, "high": 2}, "is inverted"),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "needs low > 0"),
        ({"type": "int", "low": 1, "high": 4, "step": 8}, "wider than the range"),
        ({"type": "categorical", "choices": [3]}, "2 or more choices"),
        ({"type": "categorical", "choices": [3, 3]}, "listed twice"),
        ({"type": "uniform", "low": 0, "high": 1}, "does not match any of the expected tags"),
    ],
)
def test_bad_ranges_are_refused(param: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SweepSpec.model_validate(sweep(params={"a.b": param}))


def test_bad_range_in_a_job_spec_names_file_and_key(tmp_path: Path) -> None:
    job = digits_job(
        tmp_path, **sweep(params={"train.optimizer.lr": {"type": "float", "low": 1, "high": 0}})
    )
    with pytest.raises(SpecError) as err:
        load_spec(job)
    text = str(err.value)
    assert "job.yaml" in text and "sweep.params.train.optimizer.lr" in text and "inverted" in text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"metric": None}, "needs 'metric'"),
        ({"objectives": [{"metric": "val/accuracy"}, {"metric": "params"}]}, "not both"),
        ({"n_trials": None}, "set n_trials or timeout"),
        (
            {"metric": None, "pruner": "median",
             "objectives": [{"metric": "val/accuracy"}, {"metric": "params"}]},
            "pruning needs one objective",
        ),
        ({"sampler": {"type": "bayes"}}, "sampler.type"),
        ({"params": {"sweep.n_trials": LR}}, "cannot be searched"),
    ],
)  # fmt: skip
def test_bad_sweep_blocks(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SweepSpec.model_validate(sweep(**extra))


def test_shorthands_and_goals() -> None:
    spec = SweepSpec.model_validate(sweep(sampler="random", pruner="none"))
    assert spec.sampler.type == "random" and spec.pruner.type == "none" and not spec.prunes
    multi = SweepSpec.model_validate(
        sweep(metric=None, objectives=[{"metric": "val/kappa"}, {"metric": "params"}])
    )
    assert [g.metric for g in multi.goals] == ["val/kappa", "params"] and not multi.prunes
    extra = SweepSpec.model_validate(sweep(sampler={"type": "tpe", "n_startup_trials": 3}))
    assert extra.sampler.model_extra == {"n_startup_trials": 3}


def _plan(tmp: Path, **kw: Any) -> Any:
    return plan_sweep(digits_job(tmp, **sweep(**kw)))


def test_a_path_not_in_the_spec_lists_the_nearest(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        _plan(tmp_path, params={"train.optimiser.lr": LR})
    text = str(err.value)
    assert "'train.optimiser.lr' is not a path of the job spec" in text
    assert "did you mean 'train.optimizer.lr'" in text


def test_every_bad_path_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        _plan(
            tmp_path,
            params={
                "train.optimiser.lr": LR,
                "model.layers[7].out_features": {"type": "int", "low": 8, "high": 32},
                "train.optimizer": {"type": "categorical", "choices": ["a", "b"]},
            },
        )
    problems = err.value.problems
    assert len(problems) == 3
    assert "past the end of a list of 3" in problems[1].message
    assert "is a section of the spec" in problems[2].message


def test_values_the_schema_refuses_are_caught_before_trials(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"value 0 for 'train.epochs' gives an invalid spec"):
        _plan(tmp_path, params={"train.epochs": {"type": "int", "low": 0, "high": 3}})


def test_a_path_the_schema_takes_but_the_spec_leaves_out_is_fine(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path, params={"train.grad_clip_norm": {"type": "float", "low": 0.5, "high": 5}}
    )
    assert plan.trial_data({"train.grad_clip_norm": 1.5})["train"]["grad_clip_norm"] == 1.5


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ("val/acuracy", "did you mean 'val/accuracy'"),
        ("val/kappa", "never logged by this job"),
        ("test/accuracy", "never logged"),
    ],
)
def test_a_metric_training_never_logs(tmp_path: Path, metric: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        _plan(tmp_path, metric=metric)


def test_a_val_metric_without_a_val_split(tmp_path: Path) -> None:
    job = digits_job(tmp_path, split={"method": "stratified", "ratios": {"train": 1.0}}, **sweep())
    with pytest.raises(SpecError, match="no validation split"):
        plan_sweep(job)


def test_directions_follow_the_metric(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path,
        metric=None,
        pruner="none",
        objectives=[{"metric": "val/loss"}, {"metric": "params"}, {"metric": "val/accuracy"}],
    )
    assert plan.directions == ["minimize", "minimize", "maximize"]
    assert plan.name == "digits-tiny"
    assert plan.sweep_dir == tmp_path / "runs" / "sweeps" / "digits-tiny"


def test_no_sweep_block_is_a_clear_error(tmp_path: Path) -> None:
    from trainspec.errors import TrainspecError

    with pytest.raises(TrainspecError, match="has no 'sweep:' block"):
        plan_sweep(digits_job(tmp_path))


def test_space_applies_values_at_paths_and_decodes_lists() -> None:
    spec = SweepSpec.model_validate(
        sweep(
            params={
                "model.layers[0].out_features": {"type": "int", "low": 8, "high": 64, "step": 8},
                "model.sizes": {"type": "categorical", "choices": [[64, 32], [128]]},
            }
        )
    )
    space = SearchSpace(spec)
    dists = space.distributions()
    assert dists["model.sizes"].choices == ("[64, 32]", "[128]")
    values = space.decode({"model.layers[0].out_features": 16, "model.sizes": "[128]"})
    assert values == {"model.layers[0].out_features": 16, "model.sizes": [128]}
    assert space.encode(values) == {"model.layers[0].out_features": 16, "model.sizes": "[128]"}
    data = space.apply({"model": {"layers": [{"out_features": 4}]}}, values)
    assert data["model"] == {"layers": [{"out_features": 16}], "sizes": [128]}


def test_grid_points() -> None:
    spec = SweepSpec.model_validate(
        sweep(
            sampler="grid",
            params={
                "a": {"type": "int", "low": 1, "high": 5, "step": 2},
                "b": {"type": "float", "low": 0.0, "high": 0.3, "step": 0.1},
                "c": {"type": "categorical", "choices": ["x", "y"]},
            },
        )
    )
    grid = SearchSpace(spec).grid()
    assert len(grid) == 3 * 4 * 2
    assert {p["a"] for p in grid} == {1, 3, 5} and {p["b"] for p in grid} == {0.0, 0.1, 0.2, 0.3}
    no_step = SweepSpec.model_validate(sweep(sampler="grid"))
    with pytest.raises(SpecError, match="grid sampler needs a step"):
        SearchSpace(no_step).grid()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"params": {"train.optimiser.lr": LR}}, "did you mean 'train.optimizer.lr'"),
        ({"params": {"train.optimizer.lr": {"type": "float", "low": 1, "high": 1}}}, "is empty"),
        ({"metric": "val/f1"}, "never logged"),
        ({"storage": "sqlite:////nonexistent-dir/x/study.db"}, "cannot open the sweep storage"),
    ],
)
def test_the_command_refuses_bad_input_before_any_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, Any], message: str
) -> None:
    import typer
    from typer.testing import CliRunner

    from trainspec.cli._cmds_runs import register as register_runs
    from trainspec.cli._cmds_sweep import register
    from trainspec.errors import TrainspecError

    monkeypatch.chdir(tmp_path)
    job = digits_job(tmp_path, **sweep(**change))
    app = typer.Typer()
    register(app)
    register_runs(app)
    res = CliRunner().invoke(app, ["sweep", str(job)])
    assert isinstance(res.exception, TrainspecError)  # the CLI's main() exits 2 on these
    assert message in str(res.exception)
    assert not (tmp_path / "runs" / "sweeps" / "digits-tiny" / "trials").exists()


def test_the_search_space_as_tracking_parameters() -> None:
    """Readable names (dots for list indices: MLflow refuses brackets), each range as text,
    a trial's values under the same names, and the base spec without the searched values."""
    space = SearchSpace(
        SweepSpec.model_validate(
            sweep(
                params={
                    "train.optimizer.lr": LR,
                    "model.layers[2].p": {"type": "float", "low": 0.1, "high": 0.5},
                    "model.hidden[0]": {"type": "int", "low": 8, "high": 64, "step": 8},
                    "train.batch_size": {"type": "int", "low": 1, "high": 64, "log": True},
                    "model.sizes": {"type": "categorical", "choices": [[64, 32], [128]]},
                    "train.optimizer.name": {"type": "categorical", "choices": ["Adam", "SGD"]},
                }
            )
        )
    )
    assert space.described() == {
        "space.train.optimizer.lr": "loguniform(0.0001, 0.1)",
        "space.model.layers.2.p": "uniform(0.1, 0.5)",
        "space.model.hidden.0": "int(8, 64, step=8)",
        "space.train.batch_size": "logint(1, 64)",
        "space.model.sizes": "choice([64, 32], [128])",
        "space.train.optimizer.name": 'choice("Adam", "SGD")',
    }
    assert space.drawn(
        {
            "train.optimizer.lr": 0.003,
            "model.sizes": [128],
            "model.hidden[0]": 16,
            "train.optimizer.name": "SGD",
        }
    ) == {
        "space.train.optimizer.lr": "0.003",
        "space.model.sizes": "[128]",
        "space.model.hidden.0": "16",
        "space.train.optimizer.name": "SGD",
    }
    base = {
        "train": {"optimizer": {"lr": 0.1, "name": "Adam"}, "batch_size": 3, "epochs": 2},
        "model": {"layers": [{"a": 1}, {"b": 2}, {"type": "Dropout", "p": 0.2}],
                  "hidden": [4, 5], "sizes": [1]},
    }  # fmt: skip
    assert space.without(base) == {
        "train": {"epochs": 2},  # the optimizer mapping, left empty, goes too
        "model": {"layers": [{"a": 1}, {"b": 2}, {"type": "Dropout"}], "hidden": ["<searched>", 5]},
    }
    assert base["train"]["optimizer"] == {"lr": 0.1, "name": "Adam"}  # not changed in place
    assert space.is_log("train.optimizer.lr") and space.is_log("train.batch_size")
    assert not space.is_log("model.layers[2].p") and not space.is_log("model.sizes")
