"""The tokenize transform: text -> int64 token ids and attention mask, from a local tokenizer
(a tiny BERT vocabulary written in the test), and model folders located inside packages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from trainspec.data import FittedTransforms, prepare_data
from trainspec.data._text import local_model_folder, package_folder
from trainspec.errors import DataError, SpecError
from trainspec.spec import DataSpec

transformers = pytest.importorskip("transformers")

WORDS = ["the", "cat", "dog", "sat", "ran", "on", "mat", "fast", "red", "big"]
HOLDOUT = {"method": "holdout", "ratios": {"train": 0.5, "val": 0.5}}


@pytest.fixture
def tokenizer_dir(tmp_path: Path) -> Path:
    """A word-level BERT tokenizer over a ten-word vocabulary, saved as a pretrained one is."""
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    folder = tmp_path / "tok"
    transformers.BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(str(folder))
    return folder


def _frame(n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 9)))) for _ in range(n)]
    return pd.DataFrame({"text": texts})


def _prepare(frame: pd.DataFrame, step: dict[str, Any], **extra: Any) -> Any:
    raw = {
        "source": {"type": "arrays"},
        "inputs": {"text": "text"},
        "transforms": [{"type": "tokenize", "inputs": ["text"], **step}],
        "split": HOLDOUT,
        **extra,
    }
    y = np.arange(len(frame)) % 2
    return prepare_data(DataSpec.model_validate(raw), seed=0, arrays=(frame, y))


def _batch(fold: Any, split: str) -> dict[str, torch.Tensor]:
    source = fold.source(split)
    return next(source.iter_batches(np.arange(len(source)), len(source)))


def _expected(folder: Path, texts: list[str], length: int) -> tuple[np.ndarray, np.ndarray]:
    tok = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    enc = tok(texts, max_length=length, padding="max_length", truncation=True)
    return np.asarray(enc["input_ids"]), np.asarray(enc["attention_mask"])


def test_text_becomes_fixed_length_int64_ids_and_mask(tokenizer_dir: Path) -> None:
    frame = _frame()
    prepared = _prepare(frame, {"tokenizer": str(tokenizer_dir), "max_length": 6})
    assert prepared.input_shapes == {"input_ids": (6,), "attention_mask": (6,)}
    batch = _batch(prepared.fold(0), "val")
    assert set(batch) >= {"input_ids", "attention_mask"} and "text" not in batch
    assert batch["input_ids"].dtype == torch.int64
    assert batch["attention_mask"].dtype == torch.int64
    rows = batch["index"].numpy()
    texts = [frame["text"][i] for i in rows]
    ids, mask = _expected(tokenizer_dir, texts, 6)
    np.testing.assert_array_equal(batch["input_ids"].numpy(), ids)
    np.testing.assert_array_equal(batch["attention_mask"].numpy(), mask)
    # [CLS] first; long texts truncated to end in [SEP], short ones padded with [PAD] = 0.
    words = np.asarray([len(t.split()) for t in texts])
    assert (ids[:, 0] == 2).all()
    np.testing.assert_array_equal(mask.sum(axis=1), np.minimum(words + 2, 6))
    assert (ids[mask == 0] == 0).all()
    assert (ids[words + 2 >= 6, -1] == 3).all()


def test_output_names_and_no_mask(tokenizer_dir: Path) -> None:
    step = {"tokenizer": str(tokenizer_dir), "max_length": 5, "ids": "text", "mask": None}
    prepared = _prepare(_frame(), step)
    assert prepared.input_shapes == {"text": (5,)}
    assert _batch(prepared.fold(0), "train")["text"].dtype == torch.int64
    renamed = _prepare(_frame(), {"tokenizer": str(tokenizer_dir), "ids": "ids", "mask": "m"})
    assert list(renamed.input_shapes) == ["ids", "m"]


def test_saved_transforms_tokenize_new_raw_text(tokenizer_dir: Path, tmp_path: Path) -> None:
    prepared = _prepare(_frame(), {"tokenizer": str(tokenizer_dir), "max_length": 7})
    fold = prepared.fold(0)
    fold.transforms.save(tmp_path / "saved")
    loaded = FittedTransforms.load(tmp_path / "saved")
    assert loaded.input_names == ["text"]  # what new data brings
    assert loaded.model_inputs == ["input_ids", "attention_mask"]  # what the model reads
    new = ["the big red dog ran fast on the mat", "cat"]
    out = loaded.apply({"text": new})
    ids, mask = _expected(tokenizer_dir, new, 7)
    assert out["input_ids"].dtype == np.int64 and out["attention_mask"].dtype == np.int64
    np.testing.assert_array_equal(out["input_ids"], ids)
    np.testing.assert_array_equal(out["attention_mask"], mask)


def test_the_cache_keeps_token_ids_integer(tokenizer_dir: Path, tmp_path: Path) -> None:
    frame = _frame()
    y = np.arange(len(frame)) % 2
    raw = {
        "source": {"type": "arrays"},
        "inputs": {"text": "text"},
        "transforms": [{"type": "tokenize", "tokenizer": str(tokenizer_dir), "max_length": 6}],
        "split": HOLDOUT,
    }
    spec = DataSpec.model_validate(raw)
    first = prepare_data(spec, seed=0, arrays=(frame, y), cache_dir=tmp_path / "cache")
    again = prepare_data(spec, seed=0, arrays=(frame, y), cache_dir=tmp_path / "cache")
    assert not first.cache_hit and again.cache_hit
    a, b = _batch(first.fold(0), "val"), _batch(again.fold(0), "val")
    assert b["input_ids"].dtype == torch.int64
    assert torch.equal(a["input_ids"], b["input_ids"])


def test_bad_text_and_bad_tokenizers_are_data_errors(tokenizer_dir: Path, tmp_path: Path) -> None:
    frame = _frame()
    frame.loc[3, "text"] = None
    with pytest.raises(DataError, match=r"1 missing texts \(first at row 3\)"):
        _prepare(frame, {"tokenizer": str(tokenizer_dir)})
    numbers = pd.DataFrame({"text": np.arange(12.0)})
    with pytest.raises(DataError, match="non-text values"):
        _prepare(numbers, {"tokenizer": str(tokenizer_dir)})
    with pytest.raises(DataError, match="not a local folder.*Nothing is downloaded"):
        _prepare(_frame(), {"tokenizer": "bert-base-uncased"})  # a hub name: never fetched
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="cannot load a tokenizer"):
        _prepare(_frame(), {"tokenizer": str(tmp_path / "empty")})
    with pytest.raises(SpecError, match=r"transforms\[0\]: transform tokenize .*max_length"):
        _prepare(_frame(), {"tokenizer": str(tokenizer_dir), "max_length": 1})


def test_names_are_checked_before_loading_anything() -> None:
    frame = _frame().assign(other=_frame()["text"])
    raw: dict[str, Any] = {
        "source": {"type": "arrays"},
        "inputs": {"text": "text", "other": "other"},
        "split": HOLDOUT,
    }
    y = np.arange(len(frame)) % 2
    both = {"type": "tokenize", "tokenizer": "nowhere"}
    with pytest.raises(DataError, match=r"transforms\[0\].*one text input per entry"):
        prepare_data(
            DataSpec.model_validate({**raw, "transforms": [both]}), seed=0, arrays=(frame, y)
        )
    clash = {**both, "inputs": ["text"], "ids": "other"}
    with pytest.raises(DataError, match="'other' is already an input"):
        prepare_data(
            DataSpec.model_validate({**raw, "transforms": [clash]}), seed=0, arrays=(frame, y)
        )
    after = [{**both, "inputs": ["text"]}, {"type": "standardize", "inputs": ["text"]}]
    with pytest.raises(DataError, match=r"transforms\[1\].*unknown input 'text'"):
        prepare_data(
            DataSpec.model_validate({**raw, "transforms": after}), seed=0, arrays=(frame, y)
        )


def _fake_package(root: Path, name: str, folders: list[str]) -> Path:
    package = root / name
    package.mkdir(parents=True)
    # Locating the files must not run the package's code.
    (package / "__init__.py").write_text("raise RuntimeError('imported')\n")
    for folder in folders:
        (package / folder).mkdir(parents=True)
        (package / folder / "config.json").write_text("{}")
    return package


def test_model_folders_inside_packages_are_located_not_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    package = _fake_package(tmp_path, "ts_fake_model_pkg", ["model"])
    assert package_folder("ts_fake_model_pkg") == package / "model"
    found = local_model_folder({"package": "ts_fake_model_pkg"}, "here")
    assert found == package / "model"
    assert local_model_folder(str(package / "model"), "here") == package / "model"
    two = _fake_package(tmp_path, "ts_fake_two_pkg", ["a", "b", "b/nested"])
    with pytest.raises(DataError, match="2 subfolders holding a config.json \\(a, b\\)"):
        package_folder("ts_fake_two_pkg")
    assert package_folder("ts_fake_two_pkg", "b/nested") == two / "b" / "nested"
    with pytest.raises(DataError, match="relative path inside"):
        package_folder("ts_fake_two_pkg", "../ts_fake_model_pkg")
    with pytest.raises(DataError, match="not installed"):
        package_folder("ts_no_such_pkg_xyz")
    with pytest.raises(DataError, match="top-level package name"):
        package_folder("os.path")
    with pytest.raises(DataError, match=r"\{package: name, folder: optional\}"):
        local_model_folder({"pkg": "x"}, "here")
