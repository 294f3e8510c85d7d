"""Export to ONNX and TorchScript: dynamic axes, parity with PyTorch within 1e-4."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import trainspec
from trainspec.inference import InferenceError, export_run, load_run
from trainspec.inference._export import _wrapper


def test_digits_onnx_parity_and_dynamic_batch(digits_run: Path, tmp_path: Path) -> None:
    import onnxruntime as ort

    result = export_run(digits_run, format="onnx", out=tmp_path / "onnx")
    assert result.path == tmp_path / "onnx" / "model.onnx"
    assert result.max_abs_diff <= 1e-4
    assert result.inputs == {"x": ["batch", 64]}
    info = json.loads((tmp_path / "onnx" / "export.json").read_text())
    assert info["checkpoint"] == "best" and info["max_abs_diff"] == result.max_abs_diff
    # Any batch size runs, and the outputs are the network's logits.
    # One self-contained file: copied alone to another folder, it loads and runs.
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == ["export.json", "model.onnx"]
    moved = tmp_path / "elsewhere" / "copy.onnx"
    moved.parent.mkdir()
    moved.write_bytes(result.path.read_bytes())
    session = ort.InferenceSession(str(moved))
    module = _wrapper(load_run(digits_run))
    x = torch.randn(17, 64)
    got = session.run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(got, module(x).detach().numpy(), atol=1e-4)
    # What a consumer needs to use the outputs is in the file's own metadata.
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["class_names"]) == [str(c) for c in range(10)]
    assert json.loads(meta["input_names"]) == ["x"]
    assert meta["task"] == "classification"
    assert meta["trainspec_version"] == trainspec.__version__


def test_sleep_like_graph_exports_with_a_dynamic_sequence_axis(
    records_run: Path, tmp_path: Path
) -> None:
    import onnxruntime as ort

    onnx = export_run(records_run, format="onnx", out=tmp_path / "onnx")
    assert onnx.max_abs_diff <= 1e-4
    assert onnx.inputs == {"ecgs": ["batch", "axis1", 1, 16], "additional": ["batch", "axis1", 3]}
    shapes = {tuple(c["ecgs"][:2]) for c in onnx.checked}
    assert len(shapes) == 3  # checked at batch and night lengths other than the traced ones
    session = ort.InferenceSession(str(onnx.path))
    module = _wrapper(load_run(records_run))
    xs = (torch.randn(2, 13, 1, 16), torch.randn(2, 13, 3))
    got = session.run(None, {"ecgs": xs[0].numpy(), "additional": xs[1].numpy()})[0]
    assert got.shape == (2, 13, 5)
    np.testing.assert_allclose(got, module(*xs).detach().numpy(), atol=1e-4)

    script = export_run(records_run, format="torchscript", out=tmp_path / "ts")
    assert script.path.name == "model.pt" and script.max_abs_diff <= 1e-4
    with pytest.warns(DeprecationWarning):
        loaded = torch.jit.load(str(script.path))  # type: ignore[no-untyped-call]
    assert loaded(*xs).shape == (2, 13, 5)


def test_a_difference_above_the_tolerance_fails(digits_run: Path, tmp_path: Path) -> None:
    with pytest.raises(InferenceError, match=r"differs from PyTorch by up to .* \(tolerance -1\)"):
        export_run(digits_run, format="torchscript", out=tmp_path, tolerance=-1.0)


def test_export_refuses_what_it_cannot_do(sklearn_run: Path, digits_run: Path) -> None:
    with pytest.raises(InferenceError, match="scikit-learn"):
        export_run(sklearn_run, format="onnx")
    with pytest.raises(InferenceError, match="format must be one of"):
        export_run(digits_run, format="tflite")
