"""Integer inputs (token ids, masks): declared {shape, dtype: int64}, probed with integers;
the hf_model block with a mask, mean pooling and a model folder inside a package."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from trainspec.errors import ModelError
from trainspec.models import TorchModel, build_model, summarize
from trainspec.models._probe import make_probes


def _build(arch: dict[str, Any], shapes: Mapping[str, Sequence[int | None]] | None = None) -> Any:
    model = build_model(arch, input_shapes=shapes, seed=0)
    assert isinstance(model, TorchModel)
    return model


EMBED = {
    "inputs": {"ids": {"shape": [8], "dtype": "int64"}},
    "blocks": {
        "embed": {"type": "Embedding", "num_embeddings": 50, "embedding_dim": 6},
        "pool": {"type": "Flatten"},
        "head": {"type": "Linear", "out_features": 3},
    },
}


def test_an_embedding_builds_on_an_int64_input() -> None:
    model = _build(EMBED)
    assert model.module.shapes["embed"] == (8, 6)
    out = model.forward_batch({"ids": torch.randint(0, 50, (4, 8))})
    assert out.shape == (4, 3)
    rows = {r.name: r.output_shape for r in summarize(model).rows}
    assert rows["head"] == (3,)


def test_a_float_probe_into_an_embedding_says_to_declare_the_dtype() -> None:
    arch = {**EMBED, "inputs": {"ids": [8]}}  # a plain shape list: float32 as before
    with pytest.raises(ModelError, match=r"model.blocks.embed.*dtype: int64"):
        _build(arch)


def test_declared_dtype_with_the_length_from_the_data() -> None:
    arch = {**EMBED, "inputs": {"ids": {"shape": [None], "dtype": "int64"}}}
    model = _build(arch, {"ids": (12,)})
    assert model.input_shapes == {"ids": (12,)}
    assert model.module.shapes["pool"] == (72,)
    sequential = {
        "inputs": {"shape": [5], "dtype": "int64"},
        "layers": [{"type": "Embedding", "num_embeddings": 9, "embedding_dim": 2}, "Flatten"],
    }
    assert _build(sequential).module.shapes["1"] == (10,)


def test_imported_modules_take_declared_int_inputs() -> None:
    arch = {
        "target": "torch.nn.Embedding",
        "params": {"num_embeddings": 7, "embedding_dim": 3},
        "inputs": {"input": "ids"},
        "input_shapes": {"ids": {"shape": [4], "dtype": "int64"}},
    }
    model = _build(arch)
    assert model.forward_batch({"ids": torch.tensor([[1, 2, 3, 6]])}).shape == (1, 4, 3)


def test_probes_are_integers_of_valid_range_and_floats_are_unchanged() -> None:
    shapes = {"x": (3,), "ids": (None,)}
    gen = torch.Generator().manual_seed(0)
    probes = make_probes(shapes, gen, {"ids": "int64"})
    assert len(probes) == 2  # a variable axis: two stand-in lengths
    for probe in probes:
        assert probe["ids"].dtype == torch.int64 and probe["x"].dtype == torch.float32
        assert set(probe["ids"].flatten().tolist()) <= {0, 1}
    plain = make_probes({"x": (3,)}, torch.Generator().manual_seed(0))
    again = make_probes({"x": (3,)}, torch.Generator().manual_seed(0), {})
    assert torch.equal(plain[0]["x"], again[0]["x"])


transformers = pytest.importorskip("transformers")


def _tiny_bert(folder: Path, dropout: float = 0.0) -> None:
    config = transformers.BertConfig(
        vocab_size=30,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=32,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(str(folder))


SIX = {"input_ids": (6,), "attention_mask": (6,)}


def _text_arch(path: Any, **encoder: Any) -> dict[str, Any]:
    return {
        "inputs": {
            "input_ids": {"shape": [None], "dtype": "int64"},
            "attention_mask": {"shape": [None], "dtype": "int64"},
        },
        "blocks": {
            "encoder": {
                "type": "hf_model",
                "in": ["input_ids", "attention_mask"],
                "path": path,
                **encoder,
            },
            "head": {"type": "Linear", "out_features": 2},
        },
    }


def test_hf_model_mean_pooling_uses_the_mask(tmp_path: Path) -> None:
    _tiny_bert(tmp_path / "bert")
    model = _build(_text_arch(str(tmp_path / "bert"), pooling="mean"), SIX)
    encoder = model.module.encoder
    ids = torch.tensor([[2, 5, 7, 3, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    encoder.eval()
    pooled = encoder(ids, mask)
    hidden = encoder.model(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(pooled, hidden[:, :4].mean(1))
    cls = _build(_text_arch(str(tmp_path / "bert"), pooling="cls", normalize=True), SIX)
    head_in = cls.module.encoder(ids, mask)
    torch.testing.assert_close(head_in.norm(dim=-1), torch.ones(1))


def test_a_frozen_hf_encoder_runs_without_dropout(tmp_path: Path) -> None:
    _tiny_bert(tmp_path / "bert", dropout=0.5)
    model = _build(_text_arch(str(tmp_path / "bert"), pooling="mean"), SIX)
    encoder = model.module.encoder
    ids, mask = torch.tensor([[2, 5, 7, 3, 9, 4]]), torch.ones(1, 6, dtype=torch.int64)
    model.module.train()
    torch.manual_seed(1)
    assert not torch.equal(encoder(ids, mask), encoder(ids, mask))  # dropout while it learns
    for p in encoder.parameters():
        p.requires_grad_(False)
    assert torch.equal(encoder(ids, mask), encoder(ids, mask))


def test_hf_model_from_a_folder_inside_a_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "ts_fake_bert_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('never imported')\n")
    _tiny_bert(package / "model")
    monkeypatch.syspath_prepend(str(tmp_path))
    model = _build(_text_arch({"package": "ts_fake_bert_pkg"}), SIX)
    batch = {"input_ids": torch.tensor([[2, 5, 0]]), "attention_mask": torch.tensor([[1, 1, 0]])}
    assert model.forward_batch(batch).shape == (1, 2)
    with pytest.raises(ModelError, match="hf_model.path: package 'ts_no_such_pkg_q' is not"):
        _build(_text_arch({"package": "ts_no_such_pkg_q"}), SIX)
