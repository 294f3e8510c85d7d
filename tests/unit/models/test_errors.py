"""Every bad architecture is reported before training, as a ModelError naming the block."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.models.conftest import USER_PKG
from trainspec.errors import ModelError, TrainspecError
from trainspec.models import build_model
from trainspec.models._expr import evaluate, is_expression, substitute


def _graph(blocks: dict[str, Any], inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"inputs": inputs or {"x": [10]}, "blocks": blocks}


def _error(arch: dict[str, Any], **kwargs: Any) -> str:
    with pytest.raises(ModelError) as info:
        build_model(arch, **kwargs)
    assert isinstance(info.value, TrainspecError)
    return str(info.value)


def test_unknown_block_type_lists_the_nearest_names() -> None:
    msg = _error(_graph({"c": {"type": "Conv1D", "out_channels": 4}}))
    assert "model.blocks.c" in msg and "'Conv1D'" in msg and "Conv1d" in msg
    assert "tcn" in _error(_graph({"t": {"type": "tcnn", "channels": 4}}))


def test_reference_to_a_missing_block_names_it_and_suggests() -> None:
    msg = _error(
        _graph(
            {
                "dense": {"type": "Linear", "out_features": 4},
                "head": {"type": "Linear", "in": "dens", "out_features": 2},
            }
        )
    )
    assert "model.blocks.head" in msg and "'dens'" in msg and "did you mean 'dense'" in msg


def test_cycle_is_reported_with_its_path() -> None:
    msg = _error(
        _graph(
            {
                "a": {"type": "Linear", "in": "b", "out_features": 4},
                "b": {"type": "Linear", "in": "a", "out_features": 4},
            }
        )
    )
    assert "cycle" in msg and "a -> b -> a" in msg


def test_shape_mismatch_names_block_shapes_and_expectation() -> None:
    msg = _error(_graph({"fc": {"type": "Linear", "in_features": 12, "out_features": 4}}))
    assert "model.blocks.fc (Linear)" in msg and "(B, 10)" in msg and "in_features=12" in msg
    msg = _error(_graph({"conv": {"type": "Conv1d", "out_channels": 4, "kernel_size": 3}}))
    assert "model.blocks.conv (Conv1d)" in msg and "shape mismatch" in msg and "(B, 10)" in msg


def test_merges_check_their_inputs_shapes() -> None:
    two = {"a": [8], "b": [4]}
    msg = _error(_graph({"s": {"type": "add", "in": ["a", "b"]}}, two))
    assert "model.blocks.s (add)" in msg and "(8,), (4,)" in msg
    msg = _error(
        _graph({"c": {"type": "concat", "in": ["a", "b"], "dim": 0}}, {"a": [2, 3], "b": [2, 4]})
    )
    assert "model.blocks.c (concat)" in msg and "axis 1" in msg


def test_residual_needs_equal_shapes() -> None:
    msg = _error(_graph({"fc": {"type": "Linear", "out_features": 4, "residual": True}}))
    assert "model.blocks.fc (Linear)" in msg and "residual" in msg and "(B, 4)" in msg


def test_missing_required_parameter() -> None:
    msg = _error(_graph({"fc": {"type": "Linear"}}))
    assert "model.blocks.fc.out_features: block Linear needs parameter 'out_features'" in msg


def test_wrong_parameter_types() -> None:
    msg = _error(_graph({"fc": {"type": "Linear", "out_features": "ten"}}))
    assert "model.blocks.fc.out_features: block Linear: parameter 'out_features' must be int" in msg
    msg = _error(_graph({"fc": {"type": "Linear", "out_features": "2**i"}}))
    assert "only in a block with repeat" in msg
    msg = _error(_graph({"d": {"type": "dense_stack", "units": [4], "dropout": "high"}}))
    assert "model.blocks.d.dropout: block dense_stack: parameter 'dropout' must be float" in msg


def test_unknown_parameter_suggests_the_closest() -> None:
    msg = _error(_graph({"fc": {"type": "Linear", "out_feature": 4}}))
    assert "model.blocks.fc.out_feature: block Linear takes no parameter 'out_feature'" in msg
    assert "did you mean 'out_features'" in msg
    assert "set by the engine" in _error(
        _graph({"fc": {"type": "Linear", "out_features": 4, "device": "cuda"}})
    )


def test_all_structural_problems_are_reported_together() -> None:
    msg = _error(
        _graph(
            {
                "a": {"type": "Lineer", "out_features": 4},
                "b": {"type": "Linear", "out_features": 4, "bias": "yes"},
                "c": {"type": "ReLU", "in": "nowhere"},
            }
        )
    )
    assert msg.startswith("3 problems")
    assert "model.blocks.a" in msg and "model.blocks.b" in msg and "model.blocks.c" in msg


def test_inferred_size_from_a_variable_axis_is_refused() -> None:
    msg = _error(_graph({"fc": {"type": "Linear", "out_features": 4}}, {"x": [None]}))
    assert "model.blocks.fc (Linear)" in msg and "in_features" in msg and "variable" in msg


def test_tuple_output_needs_select() -> None:
    msg = _error(_graph({"rnn": {"type": "LSTM", "hidden_size": 4}}, {"x": [5, 3]}))
    assert "model.blocks.rnn" in msg and "select: 0" in msg


def test_bad_names_and_options() -> None:
    assert "reserved" in _error(_graph({"forward": {"type": "ReLU"}}))
    assert "letters, digits" in _error(_graph({"a.b": {"type": "ReLU"}}))
    assert "'repeat' must be" in _error(_graph({"r": {"type": "ReLU", "repeat": 0}}))
    assert "several inputs" in _error(_graph({"r": {"type": "ReLU"}}, {"a": [2], "b": [2]}))
    assert "needs 'type'" in _error(_graph({"r": {"out_features": 3}}))
    msg = _error({"inputs": [4], "layers": [{"type": "ReLU", "in": "x"}]})
    assert "model.layers[0]" in msg and "sequential" in msg
    msg = _error(
        _graph(
            {
                "r": {
                    "type": "Conv1d",
                    "out_channels": 2,
                    "kernel_size": 3,
                    "repeat": 2,
                    "dilation": "i.__class__",
                }
            }
        )
    )
    assert "not allowed" in msg


def test_inputs_must_match_the_data() -> None:
    msg = _error(_graph({"r": {"type": "ReLU"}}, {"ecgs": [1, 8]}), input_shapes={"ecg": (1, 8)})
    assert "model.inputs.ecgs" in msg and "ecg" in msg
    msg = _error(_graph({"r": {"type": "ReLU"}}, {"x": [1, 8]}), input_shapes={"x": (8,)})
    assert "model.inputs.x" in msg and "number of axes" in msg
    assert "no input shapes" in _error({"blocks": {"r": {"type": "ReLU"}}})
    assert "'layers' (sequential)" in _error({"inputs": [3]})


def test_imported_targets_are_checked() -> None:
    target = f"{USER_PKG}.user_nets.SleepNet"
    assert "allow_imports" in _error({"target": target, "params": {}})
    assert "never importable" in _error({"target": "os.system"})
    msg = _error(
        {"target": target, "params": {"n_samples": 8, "n_feature": 3}}, allow_imports=[USER_PKG]
    )
    assert "model.params.n_feature: " in msg and "did you mean 'n_features'" in msg
    assert "model.params.n_features: model " in msg and "needs parameter 'n_features'" in msg
    msg = _error(
        {"target": f"{USER_PKG}.user_nets.not_a_model", "params": {"size": 2}},
        allow_imports=[USER_PKG],
    )
    assert "neither an nn.Module nor an estimator" in msg
    params = {"n_samples": 8, "n_features": 3}
    shapes = {"ecgs": (None, 1, 8), "additional": (None, 3)}
    mapping = {"ecg_input": "ecgs", "additional_input": "additional"}
    msg = _error(
        {"target": target, "params": params, "inputs": mapping},
        allow_imports=[USER_PKG],
        input_shapes=shapes,
    )
    assert "model.output" in msg and "returns a tuple of 2 outputs" in msg
    msg = _error(
        {
            "target": target,
            "params": params,
            "output": 0,
            "inputs": {"ecg_inpt": "ecgs", "additional_input": "additional"},
        },
        allow_imports=[USER_PKG],
        input_shapes=shapes,
    )
    assert "no argument 'ecg_inpt'" in msg and "did you mean 'ecg_input'" in msg


def test_expressions_are_arithmetic_only() -> None:
    assert evaluate("2**i", {"i": 3}) == 8
    assert evaluate("16 * (i + 1) // n", {"i": 1, "n": 2}) == 16
    assert evaluate("max(1, i - 2)", {"i": 0}) == 1
    assert is_expression("2**i") and not is_expression("same") and not is_expression(3)
    assert substitute({"d": "2**i", "p": "same", "k": [3, "i+1"]}, {"i": 2}) == {
        "d": 4,
        "p": "same",
        "k": [3, 3],
    }
    for bad in (
        "i.__class__",
        "__import__('os').system('true')",
        "[1] * i",
        "10**i**i",
        "i / 0",
        "lambda: i",
    ):
        with pytest.raises(ValueError):
            evaluate(bad, {"i": 100})
