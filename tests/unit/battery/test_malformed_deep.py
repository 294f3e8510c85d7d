"""What ``validate --deep`` and a run's pre-flight find beyond the static checks: a
fine-tuning init file that does not fit the model, read from the file's header (no tensor is
loaded), on a model built on the meta device. Each is refused with exit status 2, the spec's
file and line and the key path, no traceback and nothing written."""

from __future__ import annotations

import pickle
from pathlib import Path
from unittest import mock

import pytest
import torch
from safetensors.torch import save_file

from .conftest import JOB, Run


def _state(out: int = 2, prefix: str = "") -> dict[str, torch.Tensor]:
    """The weights of the battery's JOB model (Linear 3->8, ReLU, Linear 8->out)."""
    return {
        f"{prefix}0.weight": torch.zeros(8, 3),
        f"{prefix}0.bias": torch.zeros(8),
        f"{prefix}2.weight": torch.zeros(out, 8),
        f"{prefix}2.bias": torch.zeros(out),
    }


def _finetune(init: str) -> str:
    return JOB + f"finetune:\n  init: {init}\n"


# (id, init section, file to write beside the spec, words the message must hold)
CASES = [
    (
        "head-shape",
        "{from: w.safetensors}",
        ("w.safetensors", _state(out=5)),
        ("2.weight: checkpoint [5, 8], model [2, 8]", "on_mismatch: skip"),
    ),
    (
        "strict-missing",
        "{from: w.pt, strict: true}",
        ("w.pt", {k: v for k, v in _state().items() if k.startswith("0.")}),
        ("not in the checkpoint", "2.weight"),
    ),
    (
        "strict-prefix",
        "{from: w.pt, strict: true}",
        ("w.pt", {"state_dict": _state(prefix="module.")}),
        ("module.0.weight", "rename"),
    ),
    (
        "rename-collision",
        "{from: w.safetensors, rename: [['^[02]', 'x']]}",
        ("w.safetensors", _state()),
        ("map two checkpoint keys",),
    ),
    (
        "nested-key-missing",
        "{from: w.pt, key: model.weights}",
        ("w.pt", {"model": {"other": _state()}}),
        ("no 'model.weights'", "top-level keys"),
    ),
    ("file-missing", "{from: nope.safetensors}", None, ("does not exist",)),
    ("not-safetensors", "{from: w.safetensors}", ("w.safetensors", b"junk"), ("safetensors",)),
    ("pickled-object", "{from: w.pt}", ("w.pt", b"pickle"), ("weights_only=True",)),
    (
        "nothing-matches",
        "{from: w.safetensors}",
        ("w.safetensors", {"z": torch.zeros(1)}),
        ("no tensor",),
    ),
]


def _write(project: Path, spec: str, file: tuple[str, object] | None) -> None:
    (project / "job.yaml").write_text(spec)
    if file is None:
        return
    name, content = file
    path = project / name
    if content == b"pickle":
        path.write_bytes(pickle.dumps({"w": object()}))
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif name.endswith(".safetensors"):
        save_file(content, str(path))  # type: ignore[arg-type]
    else:
        torch.save(content, path)


@pytest.mark.parametrize("command", [("validate", "--deep"), ("train",)], ids=["deep", "train"])
@pytest.mark.parametrize(
    ("init", "file", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_an_init_file_that_does_not_fit_is_refused_from_its_header(
    project: Path,
    run: Run,
    command: tuple[str, ...],
    init: str,
    file: tuple[str, object] | None,
    says: tuple[str, ...],
) -> None:
    _write(project, _finetune(init), file)
    with mock.patch("safetensors.torch.load_file", side_effect=AssertionError("tensors read")):
        result = run(*command, "job.yaml")
    assert result.code == 2, (result.code, result.err)
    assert "Traceback" not in result.err + result.out
    assert "job.yaml:16" in result.err and "finetune.init" in result.err, result.err
    for word in says:
        assert word in result.err, result.err
    assert not (project / "runs").exists()


def test_a_fitting_init_file_passes_without_its_tensors_being_read(project: Path, run: Run) -> None:
    _write(project, _finetune("{from: w.safetensors, strict: true}"), ("w.safetensors", _state()))
    with mock.patch("safetensors.torch.load_file", side_effect=AssertionError("tensors read")):
        result = run("validate", "--deep", "job.yaml")
    assert result.code == 0, result.err
    assert "ok" in result.out and not (project / "runs").exists()


NEEDS_VALUES = """\
import torch


class Scaled(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)
        self.scale = float(torch.ones(1).sum().item())  # a value: impossible on the meta device

    def forward(self, x):
        return self.lin(x) * self.scale
"""


def test_a_module_that_needs_real_tensors_is_checked_on_the_cpu(project: Path, run: Run) -> None:
    (project / "battery_scaled.py").write_text(NEEDS_VALUES)
    spec = JOB.replace(
        "model:\n  layers:\n    - {type: Linear, out_features: 8}\n    - ReLU\n"
        "    - {type: Linear, out_features: 2}\n",
        "allow_imports: [battery_scaled]\nmodel: {target: battery_scaled.Scaled}\n",
    )
    (project / "job.yaml").write_text(spec)
    result = run("validate", "--deep", "job.yaml")
    assert result.code == 0, result.err
    assert "checked on the CPU, not the meta device" in result.err
    assert not (project / "runs").exists()
