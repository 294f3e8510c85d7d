"""``instantiate`` and its describe half agree: for every kind, a name validation accepts is
built, and an unknown name, a bad parameter or a refused import path is the same problem
(same message, key path and fix) whether ``trainspec validate`` finds it or a builder does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from trainspec.errors import SpecError
from trainspec.registry import describe_entry, instantiate, resolve

PATH = ("somewhere", 0)


@dataclass(frozen=True)
class Case:
    good: Any
    unknown: Any
    bad: Any = None  # None: the kind takes no parameters from a spec, or is not described


def _param() -> nn.Parameter:
    return nn.Parameter(torch.zeros(2))


CASES = {
    "optimizer": Case(
        {"name": "adamw", "lr": 0.1}, {"name": "adamm"}, {"name": "SGD", "lr": 0.1, "momentun": 0.9}
    ),
    "scheduler": Case(
        {"name": "StepLR", "step_size": 2},
        {"name": "StepLr2"},
        {"name": "StepLR", "step_size": 2, "gama": 0.5},
    ),
    "loss": Case(
        {"name": "cross_entropy"}, {"name": "cross_entropi"}, {"name": "mse", "reductions": "sum"}
    ),
    "metric": Case("accuracy", "acuracy"),
    "transform": Case(
        {"type": "standardize"}, {"type": "standardizer"}, {"type": "standardize", "colums": ["a"]}
    ),
    "block": Case(
        {"type": "Linear", "in_features": 3, "out_features": 2},
        {"type": "Lineer"},
        {"type": "Linear", "in_features": 3, "out_features": 2, "bogus": 1},
    ),
    "callback": Case(
        {"name": "log_lines"}, {"name": "log_line"}, {"name": "log_lines", "epoch": 3}
    ),
    "source": Case({"type": "csv"}, {"type": "cvs"}),
    "split": Case({"method": "kfold"}, {"method": "kfld"}),
    "model": Case(
        {"target": "sklearn.linear_model.LogisticRegression", "C": 0.5}, {"target": "MyNet"}
    ),
    "dataset": Case({"target": "torch.utils.data.TensorDataset"}, {"target": "ToyDataset"}),
}
# What the engine passes itself when it builds one.
FIXED = {
    "optimizer": lambda: {"params": [_param()]},
    "scheduler": lambda: {"optimizer": torch.optim.SGD([_param()], lr=0.1)},
}
# Called with data, not built from parameters: the builders only resolve these.
RESOLVED_ONLY = {"metric": None, "split": "method"}


def _static(kind: str, spec: Any) -> list[Any]:
    return describe_entry(kind, spec, PATH)[1]


def _build(kind: str, spec: Any) -> Any:
    if kind in RESOLVED_ONLY:
        key = RESOLVED_ONLY[kind]
        return resolve(
            kind, spec if key is None else spec[key], PATH if key is None else (*PATH, key)
        )
    return instantiate(kind, spec, PATH, fixed=FIXED.get(kind, lambda: {})())


def _refused(kind: str, spec: Any) -> list[Any]:
    with pytest.raises(SpecError) as err:
        _build(kind, spec)
    return err.value.problems


@pytest.mark.parametrize("kind", sorted(CASES))
def test_a_name_validation_accepts_is_built(kind: str) -> None:
    assert _static(kind, CASES[kind].good) == []
    built = _build(kind, CASES[kind].good)
    assert built is not None
    if kind == "optimizer":
        assert isinstance(built, torch.optim.AdamW)  # any case, as validate accepts it
    if kind == "model":
        assert built.C == 0.5


@pytest.mark.parametrize("kind", sorted(CASES))
def test_an_unknown_name_is_the_same_problem(kind: str) -> None:
    static = _static(kind, CASES[kind].unknown)
    assert len(static) == 1 and static[0].message.startswith(f"unknown {kind} ")
    assert static == _refused(kind, CASES[kind].unknown)


@pytest.mark.parametrize("kind", sorted(k for k, c in CASES.items() if c.bad is not None))
def test_a_bad_parameter_is_the_same_problem(kind: str) -> None:
    static = _static(kind, CASES[kind].bad)
    assert static, "validation must find the bad parameter"
    assert all(p.hint for p in static)
    assert static == _refused(kind, CASES[kind].bad)


@pytest.mark.parametrize("kind", sorted(CASES))
@pytest.mark.parametrize("path", ["os.system", "subprocess.Popen", "numpy.linalg.norm"])
def test_a_refused_import_path_is_the_same_problem(kind: str, path: str) -> None:
    key = {"block": "type", "transform": "type", "source": "type", "split": "method"}
    name_key = "target" if kind in ("model", "dataset") else key.get(kind, "name")
    spec: Any = path if kind == "metric" else {name_key: path}
    static = _static(kind, spec)
    assert len(static) == 1 and "import path" in static[0].message
    assert static == _refused(kind, spec)


def test_users_modules_are_checked_when_built(tmp_path: Path) -> None:
    """Validation does not import users' code; its parameters are checked by the same rule
    when it is built, and a value of the wrong type is named against the annotation."""
    spec = {"target": "torch.nn.Linear", "in_features": 3, "out_feature": 2}
    assert _static("model", spec) == []
    problems = _refused("model", spec)
    assert [p.path for p in problems] == [(*PATH, "out_feature"), (*PATH, "out_features")]
    assert problems[0].hint is not None and "did you mean 'out_features'" in problems[0].hint
    typed = _refused("model", {"target": "torch.nn.Linear", "in_features": "3", "out_features": 2})
    assert typed[0].message.endswith("must be int; got '3' (str)")
    assert typed[0].hint == "write the number without quotes"


def test_an_error_the_component_raises_names_the_entry() -> None:
    problems = _refused("transform", {"type": "window", "size": -1})
    assert problems[0].path == PATH
    assert problems[0].message.startswith("transform window rejected its parameters: ")


def test_validate_and_train_refuse_os_system_alike(cli: Any, tmp_path: Path) -> None:
    spec = tmp_path / "job.yaml"
    spec.write_text(
        "data: {source: {type: sklearn, name: iris}}\nmodel: {target: os.system}\n"
        "train: {epochs: 1}\n",
        encoding="utf-8",
    )
    expected = "job.yaml:2:9: model.target: import path 'os.system' is refused"
    checked = cli("validate", str(spec), cwd=tmp_path)
    trained = cli("train", str(spec), "--run-dir", str(tmp_path / "run"), cwd=tmp_path)
    for done in (checked, trained):
        assert done.returncode == 2, done.stderr
        assert expected in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()


def _job(train: dict[str, Any], transforms: list[dict[str, Any]] | None = None) -> Any:
    from trainspec.spec import JobSpec

    return JobSpec.model_validate(
        {
            "data": {"source": {"type": "sklearn", "name": "iris"}, "transforms": transforms or []},
            "model": {"layers": [{"type": "Linear", "out_features": 3}]},
            "train": {"epochs": 1, **train},
        }
    )


def _builder_problems(job: Any, section: str) -> list[Any]:
    from trainspec.data._transforms import build_steps
    from trainspec.engine._losses import build_loss
    from trainspec.engine._optim import build_optimizer, build_scheduler

    module = nn.Linear(2, 2)
    build = {
        "optimizer": lambda: build_optimizer(module, job.train.optimizer),
        "scheduler": lambda: build_scheduler(
            torch.optim.SGD(module.parameters(), lr=0.1),
            job.train.scheduler,
            total=10,
            monitor_mode="min",
        ),
        "loss": lambda: build_loss(job.train.loss, task="classification", num_classes=3),
        "transforms": lambda: build_steps(job.data.transforms, ["x"]),
    }[section]
    with pytest.raises(SpecError) as err:
        build()
    return err.value.problems


@pytest.mark.parametrize(
    ("train", "transforms", "section"),
    [
        ({"optimizer": {"name": "sgd", "lr": 0.1, "momentun": 0.9}}, None, "optimizer"),
        ({"optimizer": {"name": "adamw", "weight_decay": "lots"}}, None, "optimizer"),
        ({"scheduler": {"name": "StepLR", "step_size": 2, "gama": 0.5}}, None, "scheduler"),
        ({"scheduler": {"name": "StepLR"}}, None, "scheduler"),
        ({"loss": {"name": "cross_entropy", "reduction": "sum"}}, None, "loss"),
        ({"loss": {"name": "CrossEntropyLoss", "label_smoothing": "high"}}, None, "loss"),
        ({}, [{"type": "standardize", "per": "x", "colums": ["a"]}], "transforms"),
    ],
)
def test_the_builders_report_what_validation_reports(
    train: dict[str, Any], transforms: list[dict[str, Any]] | None, section: str
) -> None:
    """The real builders (the ones a run calls), not only instantiate, agree with validation."""
    from trainspec.registry import component_problems

    job = _job(train, transforms)
    root = ("data",) if section == "transforms" else ("train",)
    static = [p for p in component_problems(job, job.model) if p.path[:2] == (*root, section)]
    assert static
    assert static == _builder_problems(job, section)
