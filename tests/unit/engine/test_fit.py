"""fit: training, the NaN policy, early stopping, accumulation, resume and its refusals."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from trainspec.data._batch import Batch
from trainspec.engine import (
    Callback,
    FitContext,
    FitResult,
    FitSettings,
    evaluate,
    fit,
    predict_outputs,
)
from trainspec.errors import SpecError, TrainingError
from trainspec.spec._schema_train import TrainSpec

from .helpers import ArraySource, classification_data, mlp, regression_data


def _config(**kw: Any) -> TrainSpec:
    base: dict[str, Any] = {"epochs": 2, "batch_size": 16, "progress": "none"}
    return TrainSpec.model_validate({**base, **kw})


def _sources(n: int = 96, noise: float = 0.0) -> tuple[ArraySource, ArraySource]:
    data = classification_data(n + 32)
    train = ArraySource({k: v[:n] for k, v in data.items()}, noise=noise)
    val = ArraySource({k: v[n:] for k, v in data.items()})
    return train, val


def _fit(module: nn.Module | None = None, **kw: Any) -> FitResult:
    """``fit`` with this file's defaults; ``kw`` are fields of the settings or the run's
    ``run_dir`` / ``resume`` / ``stop_flag``."""
    train, val = kw.pop("sources", None) or _sources()
    run = {k: kw.pop(k) for k in ("run_dir", "resume", "stop_flag") if k in kw}
    settings = FitSettings(
        config=kw.pop("config", None) or _config(),
        task=kw.pop("task", "classification"),
        num_classes=kw.pop("num_classes", 3),
        **kw,
    )
    return fit(module or mlp(), train, val, settings, **run)


def test_classification_learns_and_reports_history(tmp_path: Path) -> None:
    result = _fit(
        config=_config(
            epochs=6, optimizer={"name": "AdamW", "lr": 0.02}, metrics=["accuracy", "f1"]
        ),
        run_dir=tmp_path,
    )
    first, last = result.history[0], result.history[-1]
    assert last["train/loss"] < first["train/loss"]
    assert last["val/accuracy"] > 0.6
    assert set(last) >= {
        "epoch",
        "step",
        "train/loss",
        "val/loss",
        "val/accuracy",
        "val/f1",
        "lr",
        "time",
    }
    assert result.global_step == 6 * 6 and last["step"] == 36
    assert result.monitor == "val/loss" and result.best_epoch is not None
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 6 and '"time"' not in lines[0]
    for name in ("last", "best"):
        assert (tmp_path / "checkpoints" / name / "model.safetensors").is_file()


def test_regression_defaults_to_rmse_and_mse() -> None:
    data = regression_data(64)
    src = ArraySource(data)
    model = nn.Linear(8, 1)
    result = fit(
        model,
        src,
        src,
        FitSettings(
            config=_config(epochs=3),
            task="regression",
            num_classes=None,
            seed=0,
        ),
    )
    assert "val/rmse" in result.history[-1]
    settings = FitSettings(config=_config(metrics=["mae", "r2"]), task="regression")
    scores = evaluate(model, src, settings)
    assert set(scores) == {"loss", "mae", "r2"}


def test_accumulation_gives_the_gradients_of_the_larger_batch() -> None:
    data = classification_data(32)
    weights = []
    for bs, acc in ((32, 1), (8, 4)):
        model = mlp()
        config = _config(
            epochs=1, batch_size=bs, accumulate_steps=acc, optimizer={"name": "SGD", "lr": 0.5}
        )
        fit(
            model,
            ArraySource(data),
            None,
            FitSettings(
                config=config,
                task="classification",
                num_classes=3,
                seed=0,
            ),
        )
        weights.append([p.detach().clone() for p in model.parameters()])
    changed = [
        not torch.equal(a, b) for a, b in zip(weights[0], list(mlp().parameters()), strict=True)
    ]
    assert all(changed)
    for a, b in zip(*weights, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_the_direct_one_process_step_trains_as_the_general_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The one-frame step of a plain one-process run (after its first, checked batch) gives
    the weights, losses and scores of the general step, dropout draws included."""
    from trainspec.engine import _fit as fit_module

    def run(direct: bool) -> tuple[list[torch.Tensor], list[dict[str, float]]]:
        model = mlp(dropout=0.3)
        result = _fit(model, config=_config(epochs=3), seed=0)
        return [p.detach().clone() for p in model.parameters()], result.history

    chosen = run(True)
    init = fit_module._Loop.__init__

    def general(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        assert self.direct  # this run would take the direct step
        self.direct = False

    monkeypatch.setattr(fit_module._Loop, "__init__", general)
    weights, history = run(False)
    assert all(torch.equal(a, b) for a, b in zip(chosen[0], weights, strict=True))
    strip = lambda rows: [{k: v for k, v in r.items() if k != "time"} for r in rows]  # noqa: E731
    assert strip(chosen[1]) == strip(history)


def test_accumulation_steps_the_optimizer_once_per_group() -> None:
    result = _fit(config=_config(epochs=1, batch_size=16, accumulate_steps=4))
    assert result.global_step == 2  # 6 batches: a group of 4, then the last 2


class NaNAt(nn.Module):
    """An MLP whose output is NaN for samples with index in ``bad``."""

    def __init__(self, bad: set[int]) -> None:
        super().__init__()
        self.net = mlp()
        self.bad = bad

    def forward(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        mask = torch.tensor([int(i) in self.bad for i in index])
        return torch.where(mask[:, None], torch.full_like(out, float("nan")), out)


def _nan_forward(module: nn.Module, batch: Batch) -> torch.Tensor:
    out: torch.Tensor = module(batch["x"], batch["index"])
    return out


def test_nan_policy_fail_names_epoch_step_and_value() -> None:
    with pytest.raises(TrainingError, match=r"non-finite training loss nan at epoch 1, step \d+"):
        _fit(NaNAt({5}), forward=_nan_forward)


def test_nan_policy_skip_counts_and_keeps_weights_finite(tmp_path: Path) -> None:
    model = NaNAt({5, 70})
    result = _fit(model, forward=_nan_forward, config=_config(nan_policy="skip"), run_dir=tmp_path)
    assert [row["train/skipped"] for row in result.history] == [2, 2]
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert all(torch.isfinite(torch.tensor(row["train/loss"])) for row in result.history)


def test_early_stopping_stops_after_patience() -> None:
    config = _config(
        epochs=20,
        optimizer={"name": "SGD", "lr": 1e-12},
        early_stopping={"patience": 2, "min_delta": 0.1},
    )
    result = _fit(config=config)
    assert result.stopped_early
    assert len(result.history) == 3 and result.best_epoch == 1


def test_monitored_metric_never_computed_fails_before_the_first_step() -> None:
    model = mlp()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(
        SpecError,
        match=r"train\.monitor\.metric.*'val/acc'.*did you mean "
        r"'val/accuracy'",
    ):
        _fit(model, config=_config(monitor={"metric": "val/acc"}))
    with pytest.raises(SpecError, match="no validation data"):
        fit(
            model,
            _sources()[0],
            None,
            FitSettings(
                config=_config(monitor={"metric": "val/loss"}),
                task="classification",
                num_classes=3,
                seed=0,
            ),
        )
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_bad_component_errors_come_before_training() -> None:
    with pytest.raises(SpecError, match=r"train\.optimizer\.name"):
        _fit(config=_config(optimizer={"name": "Adamm"}))
    with pytest.raises(SpecError, match=r"train\.metrics\[0\].*for regression"):
        _fit(config=_config(metrics=["rmse"]))
    with pytest.raises(SpecError, match=r"train\.precision"):
        _fit(config=_config(precision="fp16", device="cpu"))


def test_loss_incompatible_with_target_fails_before_the_first_step() -> None:
    data = regression_data(32)
    model = mlp(out=1)
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(SpecError, match=r"train\.loss\.name.*integer class targets"):
        fit(
            model,
            ArraySource(data),
            None,
            FitSettings(
                config=_config(),
                task="classification",
                num_classes=1,
                seed=0,
            ),
        )
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    with pytest.raises(SpecError, match=r"outputs 3 classes.*data has 4"):
        _fit(num_classes=4)


def test_bf16_trains_on_cpu() -> None:
    result = _fit(config=_config(precision="bf16"))
    assert all(torch.isfinite(torch.tensor(r["train/loss"])) for r in result.history)


def _jsonl(run_dir: Path) -> bytes:
    return (run_dir / "metrics.jsonl").read_bytes()


class StopAfter:
    """A stop flag that trips after ``n`` polls (one poll per optimiser step)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self) -> bool:
        self.n -= 1
        return self.n < 0


RESUME = {
    "epochs": 4,
    "batch_size": 16,
    "progress": "none",
    "metrics": ["accuracy", "auroc"],
    "scheduler": {"name": "warmup_cosine", "interval": "step", "warmup_steps": 3},
    "checkpoint": {"every_steps": 4, "keep_last": 2},
}


@pytest.mark.parametrize(
    "scheduler",
    [
        RESUME["scheduler"],
        {"name": "ReduceLROnPlateau", "patience": 0, "factor": 0.5},
        {"name": "StepLR", "step_size": 5, "interval": "step", "warmup_steps": 2},
    ],
    ids=["warmup_cosine", "plateau", "warmup+steplr"],
)
def test_interrupted_and_resumed_run_matches_an_uninterrupted_one(
    tmp_path: Path, scheduler: dict[str, Any]
) -> None:
    config = TrainSpec.model_validate({**RESUME, "scheduler": scheduler})
    sources = _sources(noise=0.3)
    full = _fit(mlp(dropout=0.3), config=config, sources=sources, run_dir=tmp_path / "full")
    part = tmp_path / "part"
    for stop_after in (3, 7, 9):  # mid-epoch; the end of an epoch (6 steps each); mid-epoch
        result = _fit(
            mlp(dropout=0.3),
            config=config,
            sources=sources,
            run_dir=part,
            resume=True,
            stop_flag=StopAfter(stop_after),
        )
        assert result.interrupted
    result = _fit(mlp(dropout=0.3), config=config, sources=sources, run_dir=part, resume=True)
    assert not result.interrupted
    assert _jsonl(part) == _jsonl(tmp_path / "full")
    assert [r["val/loss"] for r in result.history] == [r["val/loss"] for r in full.history]
    torch.testing.assert_close(result.module.state_dict(), full.module.state_dict(), rtol=0, atol=0)


def test_resume_refuses_a_changed_spec_but_allows_more_epochs(tmp_path: Path) -> None:
    compat = {"model": "aaa", "seed": "0", "train.epochs": "2"}
    _fit(run_dir=tmp_path, compat=compat)
    with pytest.raises(TrainingError, match=r"cannot resume.*model \('aaa'.*'bbb'"):
        _fit(run_dir=tmp_path, resume=True, compat={**compat, "model": "bbb"})
    result = _fit(
        run_dir=tmp_path,
        resume=True,
        config=_config(epochs=3),
        compat={**compat, "train.epochs": "3"},
    )
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    with pytest.raises(TrainingError, match=r"train\.epochs"):
        _fit(run_dir=tmp_path, resume=True, compat={**compat, "train.epochs": "1"})


def test_fresh_run_into_a_used_run_dir_is_refused(tmp_path: Path) -> None:
    _fit(run_dir=tmp_path)
    with pytest.raises(TrainingError, match="already holds checkpoints"):
        _fit(run_dir=tmp_path)


def test_resume_falls_back_when_the_newest_checkpoint_is_truncated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(epochs=3, checkpoint={"keep_last": 3})
    full = _fit(config=config, run_dir=tmp_path / "full")
    run = tmp_path / "run"
    _fit(config=config, run_dir=run)
    newest = sorted((run / "checkpoints").glob("ckpt-*"))[-1]
    blob = (newest / "state.safetensors").read_bytes()
    (newest / "state.safetensors").write_bytes(blob[:100])
    with caplog.at_level(logging.WARNING):
        result = _fit(config=config, run_dir=run, resume=True)
    assert "truncated or corrupted" in caplog.text
    assert result.history == [
        {**r, "time": result.history[i]["time"]} for i, r in enumerate(full.history)
    ]
    assert _jsonl(run) == _jsonl(tmp_path / "full")


class Recorder(Callback):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_fit_start(self, context: FitContext) -> None:
        self.calls.append("start")
        context.tracker_run_id = "run-42"

    def on_epoch_end(self, row: Mapping[str, float]) -> None:
        self.calls.append(f"epoch{int(row['epoch'])}")

    def on_checkpoint(self, path: Path, *, best: bool) -> None:
        self.calls.append("best" if best else "ckpt")

    def on_fit_end(self, result: FitResult) -> None:
        self.calls.append("end")


def test_callbacks_and_tracker_run_id_in_checkpoints(tmp_path: Path) -> None:
    rec = Recorder()
    result = _fit(run_dir=tmp_path, callbacks=[rec])
    assert rec.calls[:4] == ["start", "epoch1", "best", "epoch2"]
    assert rec.calls[4] in ("best", "ckpt") and rec.calls[5:] == ["end"]
    assert result.tracker_run_id == "run-42"
    again = _fit(config=_config(epochs=3), run_dir=tmp_path, resume=True)
    assert again.tracker_run_id == "run-42"


def test_sigint_finishes_the_step_saves_and_restores_the_handler(tmp_path: Path) -> None:
    class Interrupt(Callback):
        def on_epoch_end(self, row: Mapping[str, float]) -> None:
            os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    result = _fit(
        config=_config(epochs=5, checkpoint={"every_epochs": 10}),
        run_dir=tmp_path,
        callbacks=[Interrupt()],
    )
    assert result.interrupted and len(result.history) == 1
    assert signal.getsignal(signal.SIGINT) is before
    resumed = _fit(config=_config(epochs=5), run_dir=tmp_path, resume=True)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4, 5]


def test_max_steps_ends_the_run() -> None:
    result = _fit(config=_config(epochs=10, max_steps=8))
    assert result.global_step == 8 and len(result.history) == 2


def test_lines_progress_logs_one_line_per_epoch(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="trainspec.progress"):
        _fit(config=_config(progress="lines"))
    lines = [r for r in caplog.records if r.name == "trainspec.progress"]
    assert len(lines) == 2 and "epoch 2/2" in lines[1].getMessage()


class SeqModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.proj(x)  # (B, T, 2) -> (B, T, 3)
        return out


def test_sequence_outputs_train_and_score_only_real_positions() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 5, 2, generator=g)
    target = (x[..., 0] > 0).long()
    target[:, 3:] = -100  # padding
    src = ArraySource({"x": x, "target": target})
    model = SeqModel()
    result = fit(
        model,
        src,
        src,
        FitSettings(
            config=_config(epochs=2, batch_size=4),
            task="classification",
            num_classes=3,
            seed=0,
        ),
    )
    assert 0 <= result.history[-1]["val/accuracy"] <= 1
    out = predict_outputs(model, src, batch_size=5)
    assert out.shape == (16, 5, 3)
    pred = out.argmax(-1)[:, :3]
    expected = (pred == target[:, :3].numpy()).mean()
    assert result.history[-1]["val/accuracy"] == pytest.approx(expected)


def test_predict_outputs_keeps_the_source_order() -> None:
    train, _ = _sources()
    model = mlp()
    out = predict_outputs(model, train, batch_size=7)
    with torch.no_grad():
        expected = model(train.tensors["x"]).numpy()
    assert out.shape == (96, 3)
    torch.testing.assert_close(torch.from_numpy(out), torch.from_numpy(expected))


def test_a_batch_only_forward_is_accepted() -> None:
    """``TorchModel.forward_batch`` is a bound ``forward(batch)``."""
    model = mlp()
    seen: list[int] = []

    def forward_batch(batch: Batch) -> torch.Tensor:
        seen.append(len(batch["x"]))
        out: torch.Tensor = model(batch["x"])
        return out

    _fit(model, forward=forward_batch, config=_config(epochs=1))
    assert seen[:6] == [16] * 6
    train, _ = _sources()
    assert predict_outputs(model, train, batch_size=32, forward=forward_batch).shape == (96, 3)
