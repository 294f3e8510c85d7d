"""The images source: class folders and manifests, size policies, bad files, the uint8 cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainspec.data import prepare_data
from trainspec.data._mapped import MappedBatchSource
from trainspec.errors import DataError
from trainspec.spec import DataSpec


def _png(path: Path, value: int, size: tuple[int, int] = (12, 10), mode: str = "RGB") -> Path:
    """A solid image of ``value``; ``size`` is (width, height) as Pillow takes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, (value,) * len(mode) if mode != "L" else value).save(path)
    return path


def _folder(root: Path, per_class: int = 6) -> Path:
    for k, name in enumerate(["cat", "dog"]):
        for i in range(per_class):
            _png(root / name / f"{i}.png", 40 * k + i)
    return root


def _spec(**source: object) -> DataSpec:
    extra = source.pop("data", {})
    assert isinstance(extra, dict)
    return DataSpec.model_validate({"source": {"type": "images", **source}, **extra})


def _all_x(prepared, split: str = "train") -> np.ndarray:  # type: ignore[no-untyped-def]
    src = prepared.fold(0).source(split)
    return np.concatenate([b["x"].numpy() for b in src.iter_batches(np.arange(len(src)), 4)])


def test_class_folders_become_labels_and_uint8_map_in_the_cache(tmp_path: Path) -> None:
    root = _folder(tmp_path / "pets")
    cache = tmp_path / "cache"
    prepared = prepare_data(_spec(path=str(root)), seed=0, cache_dir=cache)
    assert prepared.class_names == ["cat", "dog"]
    assert prepared.input_shapes == {"x": (3, 10, 12)}
    assert prepared.n_samples == 12
    maps = list(cache.glob("images/*/images.npy"))
    assert len(maps) == 1
    stored = np.load(maps[0], mmap_mode="r")
    assert stored.dtype == np.uint8 and stored.shape == (12, 3, 10, 12)
    source = prepared.fold(0).source("train")
    assert isinstance(source, MappedBatchSource)
    x = _all_x(prepared)
    assert x.dtype == np.float32 and x.min() >= 0.0 and x.max() <= 1.0
    # pixel values are the image's value / 255, per sample in its own row
    batch = next(source.iter_batches(np.arange(len(source)), 32))
    raw = stored[batch["index"].numpy()]
    np.testing.assert_allclose(batch["x"].numpy(), raw / 255.0, rtol=1e-6)


def test_second_load_maps_the_cached_decode(tmp_path: Path) -> None:
    root = _folder(tmp_path / "pets")
    cache = tmp_path / "cache"
    prepare_data(_spec(path=str(root)), seed=0, cache_dir=cache)
    stamp = next(cache.glob("images/*/images.npy")).stat().st_mtime_ns
    again = prepare_data(_spec(path=str(root)), seed=0, cache_dir=cache)
    assert next(cache.glob("images/*/images.npy")).stat().st_mtime_ns == stamp
    assert again.n_samples == 12


def test_worker_processes_decode_the_same_pixels(tmp_path: Path) -> None:
    root = _folder(tmp_path / "pets", per_class=70)  # more than one chunk of 64
    one = prepare_data(_spec(path=str(root)), seed=0)
    two = prepare_data(
        _spec(path=str(root), data={"loader": {"num_workers": 2}}),
        seed=0,
        cache_dir=tmp_path / "cache",
    )
    np.testing.assert_array_equal(_all_x(one), _all_x(two))


@pytest.mark.parametrize(
    ("fit", "mode", "shape"),
    [("resize", "RGB", (3, 8, 8)), ("crop", "L", (1, 8, 8)), ("pad", "RGB", (3, 8, 8))],
)
def test_size_policies_and_modes(tmp_path: Path, fit: str, mode: str, shape: tuple) -> None:
    root = tmp_path / "pets"
    for name in ("cat", "dog"):
        for i in range(4):
            _png(root / name / f"{i}.png", 200, size=(16, 8))  # wide: 8 high, 16 wide
    prepared = prepare_data(_spec(path=str(root), size=8, fit=fit, mode=mode), seed=0)
    assert prepared.input_shapes == {"x": shape}
    x = _all_x(prepared)
    if fit == "pad":  # 16x8 scaled to 8x4, centred: two black rows above and below
        assert np.all(x[:, :, :2, :] == 0) and np.all(x[:, :, 2:6, :] > 0.7)
    else:
        assert np.all(x > 0.7)


def test_manifest_with_groups(tmp_path: Path) -> None:
    root = tmp_path / "scans"
    rows = ["file,label,patient"]
    for i in range(12):
        _png(root / "img" / f"{i}.png", 10 * i)
        rows.append(f"img/{i}.png,{'sick' if i % 2 else 'well'},p{i // 3}")
    (root / "list.csv").write_text("\n".join(rows) + "\n")
    spec = _spec(
        path=str(root),
        manifest="list.csv",
        file_column="file",
        data={
            "group": "patient",
            "split": {"method": "group", "ratios": {"train": 0.5, "val": 0.5}},
        },
    )
    prepared = prepare_data(spec, seed=0)
    assert prepared.class_names == ["sick", "well"]
    fold = prepared.splits.folds[0]
    patients = np.asarray([f"p{i // 3}" for i in range(12)])
    assert not set(patients[fold["train"]]) & set(patients[fold["val"]])


def test_images_of_different_sizes_need_a_declared_size(tmp_path: Path) -> None:
    root = _folder(tmp_path / "pets")
    odd = _png(root / "dog" / "big.png", 9, size=(30, 20))
    with pytest.raises(DataError) as err:
        prepare_data(_spec(path=str(root)), seed=0)
    assert str(odd) in str(err.value) and "source.size" in str(err.value)


def test_corrupt_image_is_named_and_skip_lists_it(tmp_path: Path) -> None:
    root = _folder(tmp_path / "pets")
    bad = root / "cat" / "broken.png"
    bad.write_bytes(_png(tmp_path / "ok.png", 1).read_bytes()[:40])  # truncated
    with pytest.raises(DataError) as err:
        prepare_data(_spec(path=str(root)), seed=0)
    assert str(bad) in str(err.value) and "on_bad: skip" in str(err.value)
    prepared = prepare_data(_spec(path=str(root), data={"on_bad": "skip"}), seed=0)
    assert prepared.n_samples == 12
    assert [b["file"] for b in prepared.bad_files] == [str(bad)]


def test_wrong_kind_and_empty_class_folder(tmp_path: Path) -> None:
    root = _folder(tmp_path / "pets")
    notes = root / "dog" / "notes.txt"
    notes.write_text("not an image")
    (root / "bird").mkdir()
    with pytest.raises(DataError) as err:
        prepare_data(_spec(path=str(root)), seed=0)
    message = str(err.value)
    assert str(notes) in message and "not an image file" in message
    assert str(root / "bird") in message and "no images" in message
    prepared = prepare_data(_spec(path=str(root), data={"on_bad": "skip"}), seed=0)
    assert prepared.class_names == ["cat", "dog"]
    assert len(prepared.bad_files) == 2


def test_a_file_with_an_image_extension_that_is_not_one(tmp_path: Path) -> None:
    root = _folder(tmp_path / "pets")
    fake = root / "cat" / "fake.jpg"
    fake.write_text("hello")
    with pytest.raises(DataError, match="fake.jpg"):
        prepare_data(_spec(path=str(root), size=[10, 12]), seed=0)


def test_folder_without_class_subfolders(tmp_path: Path) -> None:
    _png(tmp_path / "flat" / "a.png", 3)
    with pytest.raises(DataError, match="class subfolders"):
        prepare_data(_spec(path=str(tmp_path / "flat")), seed=0)


def test_schema_rejects_bad_size() -> None:
    with pytest.raises(ValueError, match="height, width"):
        _spec(path="x", size=[1, 2, 3])


def test_concurrent_loads_decode_once(tmp_path: Path) -> None:
    """Data-parallel ranks start together: one decodes, the others map its file."""
    import threading

    from trainspec.data._images import ImagesLoader
    from trainspec.data._sources import SourceContext

    root = _folder(tmp_path / "pets")
    ctx = SourceContext(cache_dir=tmp_path / "cache")
    spec = _spec(path=str(root)).source
    tables = []
    threads = [
        threading.Thread(target=lambda: tables.append(ImagesLoader().load(spec, ctx)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(tables) == 3
    assert len(list((tmp_path / "cache" / "images").glob("*/images.npy"))) == 1
    first = tables[0].get("image", "x")
    for table in tables[1:]:
        np.testing.assert_array_equal(table.get("image", "x"), first)


def test_training_batches_augment_on_the_given_device(tmp_path: Path) -> None:
    import torch

    root = _folder(tmp_path / "pets")
    spec = _spec(
        path=str(root),
        data={
            "transforms": [{"type": "random_resized_crop", "size": 6}, {"type": "horizontal_flip"}]
        },
    )
    fold = prepare_data(spec, seed=0).fold(0)
    plain = fold.source("train", train=True)
    placed = fold.source("train", train=True, device=torch.device("cpu"))
    assert getattr(placed, "augment_device", None) == torch.device("cpu")
    order = np.arange(len(plain))
    a = next(plain.iter_batches(order, 8, generator=torch.Generator().manual_seed(4)))
    b = next(placed.iter_batches(order, 8, generator=torch.Generator().manual_seed(4)))
    assert a["x"].shape == (8, 3, 6, 6)
    torch.testing.assert_close(a["x"], b["x"])
