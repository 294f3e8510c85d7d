"""Image augmentations (kornia): seeded by the engine's generator, evaluation counterparts."""

from __future__ import annotations

import pytest
import torch

from trainspec.data._augment2d import (
    ColorJitter,
    HorizontalFlip,
    Normalize,
    RandomResizedCrop,
    RandomRotation,
)
from trainspec.data._transforms import build_steps
from trainspec.errors import DataError, SpecError
from trainspec.spec import TransformSpec


def _images(b: int = 6, c: int = 3) -> torch.Tensor:
    return torch.rand(b, c, 20, 16, generator=torch.Generator().manual_seed(3))


AUGS = [
    HorizontalFlip(p=0.5),
    RandomRotation(degrees=30, p=1.0),
    RandomResizedCrop(size=[12, 10], scale=[0.3, 1.0]),
    ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1),
]


@pytest.mark.parametrize("aug", AUGS, ids=lambda a: type(a).__name__)
def test_same_generator_state_same_augmentation(aug) -> None:  # type: ignore[no-untyped-def]
    x = _images()
    a = aug.train(x, torch.Generator().manual_seed(7))
    b = aug.train(x, torch.Generator().manual_seed(7))
    c = aug.train(x, torch.Generator().manual_seed(8))
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)


def test_global_generator_is_left_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    RandomRotation(degrees=10).train(_images(), torch.Generator().manual_seed(0))
    torch.testing.assert_close(torch.rand(3), expected)


def test_random_resized_crop_shapes_and_center_crop_at_eval() -> None:
    aug = RandomResizedCrop(size=[12, 10])
    x = _images()
    assert aug.train(x, torch.Generator().manual_seed(0)).shape == (6, 3, 12, 10)
    assert aug.out_shape((3, 20, 16)) == (3, 12, 10)
    out = aug.eval(x)
    torch.testing.assert_close(out, x[:, :, 4:16, 3:13])
    small = torch.rand(2, 3, 6, 5)
    assert aug.eval(small).shape == (2, 3, 12, 10)  # smaller images are resized up


def test_sequences_of_images_keep_their_leading_axes() -> None:
    x = torch.rand(2, 4, 3, 20, 16)  # (B, T, C, H, W)
    out = RandomResizedCrop(size=8).train(x, torch.Generator().manual_seed(0))
    assert out.shape == (2, 4, 3, 8, 8)


def test_normalize_is_deterministic_in_training_and_evaluation() -> None:
    norm = Normalize(mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
    x = _images()
    gen = torch.Generator().manual_seed(0)
    state = gen.get_state()
    torch.testing.assert_close(norm.train(x, gen), (x - 0.5) / 0.25)
    torch.testing.assert_close(norm.eval(x), (x - 0.5) / 0.25)
    assert torch.equal(gen.get_state(), state)


def test_flip_and_jitter_are_identity_at_evaluation() -> None:
    x = _images()
    assert torch.equal(HorizontalFlip().eval(x), x)
    assert torch.equal(ColorJitter(brightness=0.5).eval(x), x)


def test_signal_batches_are_refused_with_the_shape() -> None:
    with pytest.raises(DataError, match=r"\(B, C, H, W\)"):
        HorizontalFlip().train(torch.rand(4, 1, 100), torch.Generator())


def test_channel_mismatch_is_a_data_error() -> None:
    with pytest.raises(DataError, match="normalize"):
        Normalize(mean=[0.5, 0.5, 0.5], std=[1, 1, 1]).eval(_images(c=1))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"type": "random_resized_crop", "size": [1, 2, 3]}, "height, width"),
        ({"type": "random_resized_crop", "size": 8, "scale": [0.5, 2.0]}, "at most 1"),
        ({"type": "horizontal_flip", "p": 2}, r"\[0, 1\]"),
        ({"type": "normalize", "mean": [0.5], "std": [0.0]}, "positive"),
        ({"type": "random_rotation", "degree": 10}, "did you mean 'degrees'"),
    ],
)
def test_bad_parameters_name_the_step(params: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message) as err:
        build_steps([TransformSpec.model_validate(params)], ["x"])
    assert err.value.problems[0].path[:3] == ("data", "transforms", 0)


def test_random_crop_takes_two_axes_for_images() -> None:
    from trainspec.data._signal import RandomCrop

    crop = RandomCrop(size=[8, 6])
    x = _images()  # (6, 3, 20, 16)
    out = crop.train(x, torch.Generator().manual_seed(0))
    assert out.shape == (6, 3, 8, 6)
    for b in range(6):  # every sample is a window of its own image
        found = [
            (i, j)
            for i in range(13)
            for j in range(11)
            if torch.equal(x[b, :, i : i + 8, j : j + 6], out[b])
        ]
        assert found
    torch.testing.assert_close(crop.eval(x), x[:, :, 6:14, 5:11])
    assert crop.out_shape((3, 20, 16)) == (3, 8, 6)
    one_axis = RandomCrop(size=5)
    assert one_axis.train(torch.rand(4, 2, 9), torch.Generator()).shape == (4, 2, 5)
