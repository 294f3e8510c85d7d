"""A pretrained Hugging Face encoder as a block: frozen, with a trainable head, trained by
``run_experiment`` from a job spec. Needs the optional ``transformers`` package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from trainspec.experiments import run_experiment
from trainspec.models import TorchModel, build_model
from trainspec.spec import load_spec

pytestmark = pytest.mark.integration
transformers = pytest.importorskip("transformers")


def _tiny_bert(folder: Path) -> dict[str, torch.Tensor]:
    """A small randomly initialised BERT, saved as a pretrained model would be shipped."""
    config = transformers.BertConfig(
        vocab_size=40,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    model = transformers.BertModel(config)
    model.save_pretrained(str(folder))
    return {k: v.clone() for k, v in model.state_dict().items()}


def _token_data(path: Path, n: int = 160, length: int = 12) -> None:
    """Sentences of token ids (0 pads the end); the label says whether token 7 occurs."""
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 40, size=(n, length))
    lengths = rng.integers(4, length + 1, size=n)
    ids[np.arange(length)[None, :] >= lengths[:, None]] = 0
    label = (ids == 7).any(axis=1).astype(np.int64)
    np.savez(path, ids=ids, label=label)


def test_frozen_hf_encoder_with_a_trainable_head_trains_from_a_job_spec(tmp_path: Path) -> None:
    pretrained = _tiny_bert(tmp_path / "tiny-bert")
    _token_data(tmp_path / "tokens.npz")
    spec = {
        "name": "text-head",
        "task": "classification",
        "model": {
            "inputs": {"ids": [12]},
            "blocks": {
                "encoder": {
                    "type": "hf_model",
                    "path": str(tmp_path / "tiny-bert"),
                    "pooling": "mean",
                },
                "head": {"type": "dense_stack", "units": [16], "out": 2},
            },
        },
        "data": {
            "source": {"type": "npz", "path": str(tmp_path / "tokens.npz")},
            "inputs": {"ids": "ids"},
            "target": "label",
            "split": {"method": "stratified", "ratios": {"train": 0.75, "val": 0.25}},
        },
        "train": {
            "epochs": 2,
            "batch_size": 16,
            "progress": "none",
            "optimizer": {"name": "AdamW", "lr": 0.01, "weight_decay": 0.1},
        },
        "finetune": {"freeze": ["encoder.*"]},
        "tracking": {"backend": "none"},
    }
    result = run_experiment(load_spec(spec), run_dir=tmp_path / "run")
    assert result.status == "finished"
    tuned = load_file(str(result.run_dir / "model" / "model.safetensors"))
    encoder = {
        k.removeprefix("encoder.model."): v for k, v in tuned.items() if k.startswith("encoder.")
    }
    assert set(encoder) == set(pretrained)
    for key, value in pretrained.items():
        assert torch.equal(encoder[key], value), key  # frozen: bitwise unchanged
    loaded = load_spec(spec)
    assert loaded.job is not None
    initial = build_model(
        loaded.job.model, input_shapes={"ids": (12,)}, seed=loaded.job.seed, task="classification"
    )
    assert isinstance(initial, TorchModel)
    head = {k: v for k, v in initial.module.state_dict().items() if k.startswith("head.")}
    assert head and all(not torch.equal(tuned[k], v) for k, v in head.items())  # it learned


def test_hf_model_refuses_anything_but_a_local_folder(tmp_path: Path) -> None:
    from trainspec.errors import ModelError
    from trainspec.models import HFBackbone

    with pytest.raises(ModelError, match="not a local folder.*never downloads"):
        HFBackbone("bert-base-uncased")  # a hub name: never fetched
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="cannot load a transformers model"):
        HFBackbone(str(tmp_path / "empty"))
