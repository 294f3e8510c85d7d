"""The request schema derived from a run, and the Prometheus text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from trainspec.inference._drift import DriftReport, FeatureDrift
from trainspec.inference._metrics import ServerMetrics
from trainspec.inference._schema import RequestShapeError, describe_inputs, request_model, to_inputs


def test_table_rows_are_objects_keyed_by_column(table_torch_run: Path) -> None:
    spec = describe_inputs(table_torch_run)
    assert spec.named_rows and spec.inputs[0].columns == ["a", "b", "color"]
    assert spec.categorical == {"color"}
    request, _ = request_model(spec, max_batch=3)
    body = request.model_validate({"instances": [{"a": 1, "b": 2.5, "color": "red", "extra": 0}]})
    inputs, offsets = to_inputs(spec, list(body.instances))  # type: ignore[attr-defined]
    assert offsets is None and inputs["x"].tolist() == [[1.0, 2.5, "red"]]
    with pytest.raises(ValidationError) as info:
        request.model_validate({"instances": [{"a": "x", "b": 1, "color": "red"}]})
    assert info.value.errors()[0]["loc"] == ("instances", 0, "a")
    with pytest.raises(ValidationError):
        request.model_validate({"instances": [{"a": 1, "b": 1, "color": "r"}] * 4})  # > max_batch


def test_records_take_arrays_per_input_with_one_row_per_epoch(records_run: Path) -> None:
    spec = describe_inputs(records_run)
    assert spec.records and not spec.named_rows and spec.has_signal
    request, _ = request_model(spec, max_batch=10)
    night = {"ecgs": np.zeros((4, 1, 16)).tolist(), "additional": np.zeros((4, 3)).tolist()}
    other = {"ecgs": np.zeros((2, 1, 16)).tolist(), "additional": np.zeros((2, 3)).tolist()}
    body = request.model_validate({"instances": [night, other]})
    inputs, offsets = to_inputs(spec, list(body.instances))  # type: ignore[attr-defined]
    assert offsets is not None and offsets.tolist() == [0, 4, 6]
    assert inputs["ecgs"].shape == (6, 1, 16) and list(inputs["additional"].columns) == [
        "age",
        "sex",
        "hour",
    ]
    short = {**other, "additional": np.zeros((3, 3)).tolist()}
    body = request.model_validate({"instances": [night, short]})
    with pytest.raises(RequestShapeError) as shape:
        to_inputs(spec, list(body.instances))  # type: ignore[attr-defined]
    assert shape.value.loc == ("body", "instances", 1, "additional")
    with pytest.raises(ValidationError) as info:
        request.model_validate({"instances": [{"ecgs": [[1.0]], "additional": [[1.0]]}]})
    assert info.value.errors()[0]["loc"][:3] == ("instances", 0, "ecgs")


def test_prometheus_exposition() -> None:
    metrics = ServerMetrics(buckets=(0.01, 0.1))
    for status, seconds in ((200, 0.005), (200, 0.05), (422, 0.2)):
        metrics.started()
        metrics.observe("POST", "/predict", status, seconds)
    metrics.add_predictions(7)
    drift = DriftReport([FeatureDrift('a"b', 0.5, 0.3, True)], 120, 0.2, 0.2)
    text = metrics.render(ready=True, drift=drift, window=120)
    lines = text.splitlines()
    assert 'trainspec_requests_total{method="POST",path="/predict",status="200"} 2.0' in lines
    assert 'trainspec_request_errors_total{kind="client",path="/predict"} 1.0' in lines
    assert (
        'trainspec_request_duration_seconds_bucket{le="0.01",method="POST",path="/predict"} 1.0'
        in lines
    )
    assert (
        'trainspec_request_duration_seconds_bucket{le="0.1",method="POST",path="/predict"} 2.0'
        in lines
    )
    assert (
        'trainspec_request_duration_seconds_bucket{le="+Inf",method="POST",path="/predict"} 3.0'
        in lines
    )
    assert "trainspec_predictions_total 7.0" in lines and "trainspec_model_ready 1.0" in lines
    assert 'trainspec_drift_flagged{feature="a\\"b"} 1.0' in lines
    assert "# TYPE trainspec_request_duration_seconds histogram" in lines
    assert text.endswith("\n")
