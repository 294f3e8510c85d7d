"""Fault battery, names: a job, run or sweep name that tries to leave the runs root is cleaned
to a safe slug, the cleaned name is printed, and nothing is written outside the runs root."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.unit.experiments.sweep_support import digits_job

pytestmark = pytest.mark.integration


def _files_outside(top: Path, root: Path, keep: set[Path]) -> list[Path]:
    return [
        p
        for p in top.rglob("*")
        if p.is_file() and p not in keep and root.resolve() not in p.resolve().parents
    ]


def _job(tmp_path: Path, name: str, **sweep: object) -> tuple[Path, Path]:
    """A tiny digits job under ``tmp_path/work``, its runs root three levels down."""
    work = tmp_path / "work"
    work.mkdir()
    path = digits_job(work, **sweep)
    data = yaml.safe_load(path.read_text())
    root = work / "deep" / "er" / "runs"
    data["name"] = name
    data["run"]["root"] = str(root)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path, root


HOSTILE = [
    ("../../../../escape", "escape"),
    ("/tmp/abs-name", "tmp-abs-name"),
    ("a/b\\c", "a-b-c"),
    ("a\0b/..", "a-b"),
    ("..", None),
    ("z" * 300, "zzzz"),
]


def test_train_cli_cleans_a_traversal_name_and_prints_it(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec, root = _job(tmp_path, "../../../../escape")
    res = cli("train", str(spec), "-q", cwd=spec.parent)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "job name '../../../../escape' is not a safe folder name; using 'escape'" in res.stderr
    (run,) = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert run.name.startswith("escape-") and (run / "summary.json").is_file()
    assert _files_outside(tmp_path, root, {spec}) == []


@pytest.mark.parametrize(("name", "expected"), HOSTILE)
@pytest.mark.parametrize("key", ["name", "run.name", "sweep.name"])
def test_every_name_that_becomes_a_folder_stays_under_the_runs_root(
    tmp_path: Path, key: str, name: str, expected: str | None
) -> None:
    from trainspec.experiments._run import _choose_run_dir
    from trainspec.experiments._sweep_plan import plan_from_data
    from trainspec.spec import load_spec

    spec, root = _job(
        tmp_path,
        "job",
        metric="val/accuracy",
        n_trials=1,
        params={"train.optimizer.lr": {"type": "float", "low": 1e-3, "high": 1e-2}},
    )
    data = yaml.safe_load(spec.read_text())
    if key == "name":
        data["name"] = name
    elif key == "run.name":
        data["run"]["name"] = name
    elif re.fullmatch(r"[A-Za-z0-9_.-]+", name) is None:
        # sweep.name is pattern-checked: such a name is a spec error before any folder exists
        data["sweep"]["name"] = name
        with pytest.raises(ValueError, match="sweep|pattern"):
            plan_from_data(data, check=False)
        assert not root.exists()
        return
    else:
        data["sweep"]["name"] = name
    if key != "sweep.name":
        without = {k: v for k, v in data.items() if k != "sweep"}
        run = _choose_run_dir(load_spec(without), None, resume=False)
        assert run.parent == root and root.resolve() in run.resolve().parents
        if expected:
            assert run.name.startswith(expected)
    plan = plan_from_data(data, check=False)
    assert plan.sweep_dir.parent == root / "sweeps"
    assert plan.trial_dir(3).resolve().is_relative_to(root.resolve())
    if expected and key != "run.name":
        assert plan.name.startswith(expected)
    assert _files_outside(tmp_path, root, {spec}) == []


def test_sweep_cli_keeps_its_folder_under_the_runs_root(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name, expected = "../../../../escape", "escape"
    spec, root = _job(
        tmp_path,
        name,
        metric="val/accuracy",
        n_trials=1,
        sampler="random",
        pruner="none",
        params={"train.optimizer.lr": {"type": "float", "low": 1e-3, "high": 1e-2}},
    )
    res = cli("sweep", str(spec), "--workers", "1", cwd=spec.parent)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"using '{expected}'" in res.stderr
    folder = root / "sweeps" / expected
    assert (folder / "sweep.json").is_file() and (folder / "study.db").is_file()
    assert (folder / "trials" / "0000" / "summary.json").is_file()
    assert _files_outside(tmp_path, root, {spec}) == []
