"""Fault battery, integrity: every reader of a checkpoint or a saved model verifies its
manifest and refuses (or, resuming, falls back) with the same sentence: resume, fine-tune
initialisation from a run, predict, evaluate, export, serve and promote."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.experiments.sweep_support import digits_job
from trainspec.errors import IntegrityError, TrainspecError

pytestmark = pytest.mark.integration

SENTENCE = "fails its integrity check"
CHECKSUM = "does not match its checksum in manifest.json (truncated or corrupted)"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from trainspec.experiments import run_experiment

    tmp = tmp_path_factory.mktemp("integrity")
    spec = digits_job(tmp, epochs=2)
    return run_experiment(str(spec), run_dir=tmp / "run").run_dir


@pytest.fixture
def run(trained: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained, copy, symlinks=True)
    return copy


def _flip(path: Path, n: int = 64) -> None:
    """Flip ``n`` bytes in the middle of ``path`` (through a symlinked folder, in place)."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    for i in range(mid, mid + n):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _readers(run: Path) -> dict[str, Callable[[], Any]]:
    from trainspec.engine import prepare_finetune
    from trainspec.inference import evaluate_run, export_run, predict_run
    from trainspec.models import build_model
    from trainspec.spec import FinetuneSpec, load_spec

    job = load_spec(run / "config.yaml").job
    assert job is not None

    def finetune() -> Any:
        model = build_model(job.model, input_shapes={"x": (64,)}, task="classification")
        spec = FinetuneSpec.model_validate({"init": {"from": str(run)}})
        return prepare_finetune(model.module, spec, run_dir=None, base_lr=1e-3)  # type: ignore[attr-defined]

    return {
        "finetune.init.from": finetune,
        "predict": lambda: predict_run(run, run / "absent.csv"),
        "evaluate": lambda: evaluate_run(run, run / "absent.csv"),
        "export": lambda: export_run(run, format="torchscript", out=run.parent / "export"),
    }


def test_every_reader_refuses_a_corrupted_best_checkpoint_with_one_sentence(run: Path) -> None:
    from trainspec.inference import ModelService

    _flip(run / "checkpoints" / "best" / "model.safetensors")
    for name, read in _readers(run).items():
        with pytest.raises(IntegrityError) as info:
            read()
        message = str(info.value)
        assert SENTENCE in message and CHECKSUM in message, (name, message)
        assert "model.safetensors" in message, name
    service = ModelService(run)
    service.load()
    assert service.status == "failed" and SENTENCE in (service.error or "")


def test_a_corrupted_saved_model_is_refused_by_predict_and_promote(run: Path) -> None:
    from trainspec.experiments import promote_run
    from trainspec.inference import predict_run

    _flip(run / "model" / "model.safetensors")
    for read in (
        lambda: predict_run(run, run / "absent.csv", checkpoint="final"),
        lambda: predict_run(run, run / "absent.csv"),  # model/ holds the architecture too
        lambda: promote_run(run, alias="staging"),
    ):
        with pytest.raises(IntegrityError, match=SENTENCE):
            read()


def test_resume_falls_back_past_a_corrupted_checkpoint_with_the_same_sentence(
    run: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from trainspec.experiments import run_experiment

    newest = max((run / "checkpoints").glob("ckpt-*"))
    _flip(newest / "state.safetensors")
    with caplog.at_level(logging.WARNING, logger="trainspec"):
        result = run_experiment(str(run / "config.yaml"), run_dir=run, resume=True)
    assert result.status == "finished"
    assert SENTENCE in caplog.text and "falling back to the previous checkpoint" in caplog.text
    assert list((run / "checkpoints").glob("corrupt-ckpt-*"))  # set aside, for inspection
    assert (run / "checkpoints" / "best" / "manifest.json").is_file()


def test_cli_finetune_from_a_corrupted_run_exits_2_without_a_traceback(cli, run: Path) -> None:  # type: ignore[no-untyped-def]
    _flip(run / "checkpoints" / "best" / "model.safetensors")
    job = yaml.safe_load((run / "config.yaml").read_text())
    job["finetune"] = {"init": {"from": str(run)}}
    job["train"]["epochs"] = 1
    spec = run.parent / "finetune.yaml"
    spec.write_text(yaml.safe_dump(job))
    res = cli("train", str(spec), "-q", "--run-dir", str(run.parent / "tuned"), cwd=run.parent)
    assert res.returncode == 2, res.stderr[-2000:]
    assert SENTENCE in res.stderr and CHECKSUM in res.stderr
    assert "Traceback" not in res.stderr
    assert not (run.parent / "tuned" / "model").exists()


def test_a_model_folder_cut_short_is_reported_unfinished(tmp_path: Path) -> None:
    from trainspec.models import build_model, load_model

    model = build_model(
        {"inputs": [4], "layers": [{"type": "Linear", "out_features": 2}]},
        input_shapes={"x": (4,)},
        task="classification",
    )
    folder = model.save(tmp_path / "m")
    (folder / "manifest.json").unlink()  # as a save killed before its last write leaves it
    with pytest.raises(TrainspecError, match="never finished"):
        load_model(folder)


def test_mlflow_pyfunc_loading_verifies_the_bundled_model(run: Path, tmp_path: Path) -> None:
    import mlflow.pyfunc

    from trainspec.inference._mlflow_model import save_mlflow_model

    folder = save_mlflow_model(run, tmp_path / "mlflow-model")
    (weights,) = folder.rglob("model/model.safetensors")
    _flip(weights)
    with pytest.raises(Exception, match=SENTENCE):
        mlflow.pyfunc.load_model(str(folder))
    _flip(run / "model" / "model.safetensors")  # and a damaged run is never bundled
    with pytest.raises(IntegrityError, match=SENTENCE):
        save_mlflow_model(run, tmp_path / "again")
