"""Batch prediction: equal to Model.predict, chunked, every input format, records, errors."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from tests.unit.inference.conftest import make_table, write_records
from trainspec.errors import TrainspecError
from trainspec.inference import InferenceError, load_run, make_predictor, predict_run
from trainspec.models import TorchModel, load_model


def _features(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["target"])


def test_predictions_equal_model_predict_on_the_same_rows(
    digits_run: Path, digits_frame: pd.DataFrame, tmp_path: Path
) -> None:
    rows = _features(digits_frame).iloc[:300]
    rows.to_csv(tmp_path / "new.csv", index=False)
    out = predict_run(digits_run, tmp_path / "new.csv", out=tmp_path / "pred.parquet")
    assert out == tmp_path / "pred.parquet"
    pred = pd.read_parquet(out)
    assert list(pred.columns[:2]) == ["row", "prediction"]
    assert [c for c in pred.columns if c.startswith("proba_")] == [f"proba_{k}" for k in range(10)]

    run = load_run(digits_run)  # best checkpoint, as predict_run
    model = run.model.attach_transforms(run.transforms)
    expected = model.predict(rows)
    assert pred["prediction"].tolist() == [str(k) for k in expected]
    np.testing.assert_allclose(
        pred.filter(like="proba_").to_numpy(), model.predict_proba(rows), atol=1e-6
    )
    assert pred["row"].tolist() == list(range(300))


def test_final_checkpoint_is_the_saved_model(digits_run: Path, digits_frame: pd.DataFrame) -> None:
    rows = _features(digits_frame).iloc[:50]
    pred = predict_run(digits_run, rows, checkpoint="final")
    assert isinstance(pred, pd.DataFrame)
    saved = load_model(digits_run / "model")
    saved.attach_transforms(load_run(digits_run).transforms)
    assert pred["prediction"].tolist() == [str(k) for k in saved.predict(rows)]
    assert load_run(digits_run, checkpoint="last").checkpoint == "last"
    with pytest.raises(InferenceError, match="checkpoint must be one of"):
        load_run(digits_run, checkpoint="newest")


def test_chunks_give_the_same_output_as_one_pass(
    digits_run: Path, digits_frame: pd.DataFrame, tmp_path: Path
) -> None:
    rows = _features(digits_frame).iloc[:500]
    rows.to_csv(tmp_path / "new.csv", index=False)
    calls: list[tuple[int, int]] = []
    out = predict_run(
        digits_run,
        tmp_path / "new.csv",
        out=tmp_path / "pred.csv",
        chunk_size=64,
        progress=lambda i, n: calls.append((i, n)),
    )
    assert len(calls) == 8 and calls[-1] == (7, 500)  # 500 rows in chunks of 64
    chunked = pd.read_csv(out)
    whole = predict_run(digits_run, rows, chunk_size=10_000)
    assert isinstance(whole, pd.DataFrame)
    assert chunked["row"].tolist() == list(range(500))
    assert chunked["prediction"].astype(str).tolist() == whole["prediction"].tolist()
    np.testing.assert_allclose(
        chunked.filter(like="proba_").to_numpy(), whole.filter(like="proba_").to_numpy(), atol=1e-6
    )


@pytest.mark.parametrize("fmt", ["parquet", "npz", "h5", "npy"])
def test_every_input_format_gives_the_same_predictions(
    fmt: str, table_torch_run: Path, tmp_path: Path
) -> None:
    frame = make_table(40, seed=3)
    numeric = frame[["a", "b"]].assign(c=1.0)
    expected = predict_run(table_torch_run, frame)
    assert isinstance(expected, pd.DataFrame)
    path = tmp_path / f"new.{fmt}"
    if fmt == "parquet":
        frame.to_parquet(path)
    elif fmt == "npz":
        np.savez(
            path,
            a=frame["a"].to_numpy(),
            b=frame["b"].to_numpy(),
            color=frame["color"].to_numpy().astype("U5"),
            sid=frame["sid"].to_numpy().astype("U10"),
        )
    elif fmt == "h5":
        with h5py.File(path, "w") as f:
            for c in ("a", "b"):
                f.create_dataset(c, data=frame[c].to_numpy())
            f.create_dataset("color", data=frame["color"].to_numpy().astype("S5"))
            f.create_dataset("sid", data=frame["sid"].to_numpy().astype("S10"))
    else:
        np.save(path, numeric.to_numpy())
        with pytest.raises(TrainspecError, match="key 'a' is not in npy file"):
            predict_run(table_torch_run, path)
        return
    got = predict_run(table_torch_run, path, chunk_size=7)
    assert isinstance(got, pd.DataFrame)
    np.testing.assert_allclose(
        got.filter(like="proba_").to_numpy(), expected.filter(like="proba_").to_numpy(), atol=1e-6
    )
    assert [str(s) for s in got["sid"]] == [str(s) for s in expected["sid"]]


def test_sklearn_run_predicts_labels_probabilities_and_keeps_ids(
    sklearn_run: Path, tmp_path: Path
) -> None:
    frame = make_table(30, seed=5).sample(frac=1.0, random_state=0)  # shuffled columns and rows
    frame = frame[["label", "color", "b", "sid", "a"]]
    pred = predict_run(sklearn_run, frame)
    assert isinstance(pred, pd.DataFrame)
    run = load_run(sklearn_run)
    assert run.checkpoint == "final"
    model = run.model.attach_transforms(run.transforms)
    names = np.asarray(run.class_names)
    assert pred["prediction"].tolist() == names[model.predict(frame[["a", "b", "color"]])].tolist()
    assert pred["sid"].tolist() == frame["sid"].tolist()
    assert pred["target"].tolist() == frame["label"].tolist()  # the target, when present
    np.testing.assert_allclose(pred.filter(like="proba_").sum(axis=1), 1.0, rtol=1e-6)


def test_records_give_one_prediction_per_real_epoch(
    records_run: Path, records_h5: Path, tmp_path: Path
) -> None:
    path = write_records(tmp_path / "new.h5", [3, 11, 4], seed=9)
    pred = predict_run(records_run, path, out=tmp_path / "pred.csv", chunk_size=5)
    frame = pd.read_csv(pred)
    assert len(frame) == 3 + 11 + 4  # padded positions are dropped
    assert frame.groupby("record")["epoch"].max().to_dict() == {
        "night00": 2,
        "night01": 10,
        "night02": 3,
    }
    assert set(frame["prediction"]) <= {"W", "N1", "N2", "N3", "REM"}
    assert frame["target"].tolist() == [
        (e + i) % 5 for i, t in enumerate([3, 11, 4]) for e in range(t)
    ]
    # A night's predictions do not depend on the nights read or batched with it.
    alone = predict_run(records_run, write_records(tmp_path / "one.h5", [11], seed=9))
    assert isinstance(alone, pd.DataFrame)
    with h5py.File(path) as f, h5py.File(tmp_path / "one.h5", "a") as g:
        g["records/night00/ecg"][...] = f["records/night01/ecg"][()]
        g["records/night00/features"][...] = f["records/night01/features"][()]
    alone = predict_run(records_run, tmp_path / "one.h5", batch_size=1)
    assert isinstance(alone, pd.DataFrame)
    night = frame[frame["record"] == "night01"]
    np.testing.assert_allclose(
        alone.filter(like="proba_").to_numpy(), night.filter(like="proba_").to_numpy(), atol=1e-5
    )


def test_errors_name_the_problem(
    digits_run: Path, digits_frame: pd.DataFrame, tmp_path: Path
) -> None:
    rows = _features(digits_frame).iloc[:5].drop(columns=["pixel_0_3", "pixel_4_4"])
    with pytest.raises(InferenceError, match="pixel_0_3"):
        predict_run(digits_run, rows)
    (tmp_path / "x.txt").write_text("a")
    with pytest.raises(InferenceError, match="unknown file type"):
        predict_run(digits_run, tmp_path / "x.txt")
    with pytest.raises(InferenceError, match="does not exist"):
        predict_run(digits_run, tmp_path / "missing.csv")
    with pytest.raises(InferenceError, match=r"\.csv or \.parquet"):
        predict_run(digits_run, _features(digits_frame).iloc[:5], out=tmp_path / "p.json")
    with pytest.raises(InferenceError, match="not a trainspec run"):
        load_run(tmp_path)
    assert not list(tmp_path.glob(".p.json*"))


def test_empty_input_writes_an_empty_file(
    digits_run: Path, digits_frame: pd.DataFrame, tmp_path: Path
) -> None:
    _features(digits_frame).iloc[:0].to_csv(tmp_path / "empty.csv", index=False)
    out = predict_run(digits_run, tmp_path / "empty.csv", out=tmp_path / "pred.csv")
    assert pd.read_csv(out).empty


def test_predictor_is_chosen_by_the_model_kind(
    sklearn_run: Path, digits_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = load_run(digits_run)
    assert isinstance(net.model, TorchModel) and not net.model.module.training  # eval mode
    assert make_predictor(net).name == "torch"
    run = load_run(sklearn_run)
    assert make_predictor(run).name == "sklearn"
    with pytest.raises(InferenceError, match="onnx backend serves PyTorch models"):
        make_predictor(run, "onnx")
    monkeypatch.setattr(run.model, "kind", "xgboost")  # a kind with no predictor
    with pytest.raises(
        InferenceError,
        match="'xgboost' model .* cannot be served; predictors exist for torch, sklearn",
    ):
        make_predictor(run)
