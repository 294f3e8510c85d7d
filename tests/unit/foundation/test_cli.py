"""The CLI's fast paths and exit statuses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES

DIGITS = EXAMPLES / "digits" / "train.yaml"


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


# What the static commands must not load: torch (seconds), and the libraries only a run, a
# sweep, a report or a data load needs; each of them costs a large part of the 0.5 s that
# ``validate`` has (benchmarks/bench_validate.py).
HEAVY = ("torch", "numpy", "pandas", "pyarrow", "sklearn", "mlflow", "optuna", "h5py", "scipy")


def test_static_commands_import_no_torch_nor_other_heavy_library() -> None:
    for argv in (
        ["--help"],
        ["validate", str(DIGITS)],
        ["validate", str(EXAMPLES / "regression" / "train.yaml")],  # a CSV's header is read
        ["validate", str(EXAMPLES / "sleep_staging" / "pipeline.yaml")],
        ["validate", str(EXAMPLES / "resnet" / "resnet18.yaml")],
        ["show", str(DIGITS)],
        ["schema"],
    ):
        code = (
            "import sys\nfrom trainspec.cli import main\n"
            f"sys.argv = ['trainspec', *{argv!r}]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        )
        modules = _modules_after(code)
        loaded = sorted(m for m in HEAVY if m in modules)
        assert not loaded, f"trainspec {' '.join(argv)} imported {loaded}"


def test_validate_ok(cli) -> None:  # type: ignore[no-untyped-def]
    res = cli("validate", str(DIGITS))
    assert res.returncode == 0, res.stderr
    assert "valid job spec" in res.stdout


def test_misspelled_key_exits_2_naming_file_path_and_fix(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "job.yaml"
    spec.write_text(
        DIGITS.read_text()
        .replace("model: net.yaml", f"model: {EXAMPLES}/digits/net.yaml")
        .replace("  epochs: 20", "  epohcs: 20")
    )
    res = cli("validate", str(spec))
    assert res.returncode == 2
    assert "job.yaml" in res.stderr
    assert "train.epohcs" in res.stderr
    assert "epochs" in res.stderr


def test_override_of_unknown_key_is_reported(cli) -> None:  # type: ignore[no-untyped-def]
    res = cli("validate", str(DIGITS), "train.optimiser.lr=1e-4")
    assert res.returncode == 2
    assert "train.optimiser" in res.stderr
    assert "optimizer" in res.stderr


def test_wrong_type_names_expected_type(cli) -> None:  # type: ignore[no-untyped-def]
    res = cli("validate", str(DIGITS), "train.epochs=ten")
    assert res.returncode == 2
    assert "train.epochs" in res.stderr
    assert "integer" in res.stderr


def test_show_applies_overrides(cli) -> None:  # type: ignore[no-untyped-def]
    res = cli("show", str(DIGITS), "train.epochs=3", "--format", "json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["train"]["epochs"] == 3
    assert data["model"]["layers"][0]["out_features"] == 128


def test_schema_writes_every_schema(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = cli("schema", "--out", str(tmp_path / "s"))
    assert res.returncode == 0, res.stderr
    names = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert names == [
        "trainspec-arch.schema.json",
        "trainspec-job.schema.json",
        "trainspec-pipeline.schema.json",
    ]
    job = json.loads((tmp_path / "s" / "trainspec-job.schema.json").read_text())
    assert "train" in job["properties"]


def test_os_system_target_is_refused(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "job.yaml"
    spec.write_text(
        "model: {target: os.system, params: {command: 'echo pwned'}}\n"
        "data: {source: {type: sklearn, name: digits}}\n"
        "allow_imports: [my_pkg]\n"
    )
    res = cli("train", str(spec), "--run-dir", str(tmp_path / "run"))
    assert res.returncode == 2
    assert "os" in res.stderr and "refused" in res.stderr
    assert "pwned" not in res.stdout
