"""Image augmentations from kornia, applied to whole batches on the training device.

kornia is pure PyTorch (no compiled extension, so it installs beside any torch build, where
torchvision's PyPI wheels pull a CUDA torch), works on (B, C, H, W) batches already on the
device, and its transforms are maintained and tested upstream. kornia draws its random
parameters from torch's global generator; each call here forks that generator and seeds it
from the engine's augmentation generator, so augmentations repeat exactly on a resumed run.

Each augmentation has a deterministic evaluation counterpart (normalisation itself, a center
crop for crops, nothing for flips, rotations and colour jitter), applied at validation, test,
predict and serve, so shapes match training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trainspec.data._signal import Augmentation
from trainspec.errors import DataError
from trainspec.registry import registry

if TYPE_CHECKING:
    import torch

__all__ = [
    "ColorJitter",
    "HorizontalFlip",
    "ImageAugmentation",
    "Normalize",
    "RandomResizedCrop",
    "RandomRotation",
    "VerticalFlip",
    "kornia_augmentation",
]


def kornia_augmentation() -> Any:
    try:
        import kornia.augmentation as ka
    except ImportError as exc:
        raise DataError("image augmentations need kornia: pip install 'trainspec[images]'") from exc
    return ka


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any(int(v) < 1 for v in pair):
        raise ValueError(f"{name} takes a positive number or [height, width]; got {value}")
    return (int(pair[0]), int(pair[1]))


def _prob(p: float) -> float:
    if not 0 <= p <= 1:
        raise ValueError(f"p must lie in [0, 1], got {p}")
    return float(p)


class ImageAugmentation(Augmentation):
    """A kornia module on (B, C, H, W) batches (or (B, T, C, H, W) sequences of images)."""

    name = "image augmentation"
    _built: Any = None

    def _module(self) -> Any:
        if self._built is None:
            self._built = self.module()  # built once: kornia modules hold no random state
        return self._built

    def module(self) -> Any:
        raise NotImplementedError

    def eval_module(self) -> Any | None:
        return None

    def _run(self, module: Any, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 4:
            raise DataError(
                f"{self.name}: needs image batches (B, C, H, W); the input has shape "
                f"{tuple(x.shape)}. Images from an 'images' source have that shape; for arrays "
                "set data.inputs.<name>.shape: [C, H, W]"
            )
        lead = x.shape[:-3]
        flat = x.reshape(-1, *x.shape[-3:])
        try:
            out: torch.Tensor = module(flat)
        except (RuntimeError, ValueError, TypeError) as exc:
            raise DataError(f"{self.name} on shape {tuple(x.shape)}: {exc}") from exc
        return out.reshape(*lead, *out.shape[-3:])

    def train(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        import torch

        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return self._run(self._module(), x)

    def eval(self, x: torch.Tensor) -> torch.Tensor:
        module = self.eval_module()
        return x if module is None else self._run(module, x)


@registry.register("transform", "horizontal_flip")
class HorizontalFlip(ImageAugmentation):
    """Mirror left-right with probability ``p``."""

    name = "horizontal_flip"

    def __init__(self, p: float = 0.5) -> None:
        self.p = _prob(p)

    def module(self) -> Any:
        return kornia_augmentation().RandomHorizontalFlip(p=self.p)


@registry.register("transform", "vertical_flip")
class VerticalFlip(ImageAugmentation):
    """Mirror top-bottom with probability ``p``."""

    name = "vertical_flip"

    def __init__(self, p: float = 0.5) -> None:
        self.p = _prob(p)

    def module(self) -> Any:
        return kornia_augmentation().RandomVerticalFlip(p=self.p)


@registry.register("transform", "random_rotation")
class RandomRotation(ImageAugmentation):
    """Rotate by an angle drawn from [-degrees, degrees], with probability ``p``."""

    name = "random_rotation"

    def __init__(self, degrees: float, p: float = 1.0) -> None:
        if degrees < 0:
            raise ValueError(f"degrees must be at least 0, got {degrees}")
        self.degrees, self.p = float(degrees), _prob(p)

    def module(self) -> Any:
        return kornia_augmentation().RandomRotation(degrees=self.degrees, p=self.p)


@registry.register("transform", "random_resized_crop")
class RandomResizedCrop(ImageAugmentation):
    """Crop a random area (``scale`` of the image, aspect ``ratio``) and resize it to
    ``size``; evaluation takes the center crop of ``size`` (resizing smaller images up)."""

    name = "random_resized_crop"

    def __init__(
        self,
        size: int | list[int],
        scale: list[float] | None = None,
        ratio: list[float] | None = None,
    ) -> None:
        self.size = size
        self.scale = scale or [0.08, 1.0]
        self.ratio = ratio or [3 / 4, 4 / 3]
        self._hw = _pair(size, "size")
        for name, pair in (("scale", self.scale), ("ratio", self.ratio)):
            if len(pair) != 2 or not 0 < pair[0] <= pair[1]:
                raise ValueError(f"{name} takes [low, high] with 0 < low <= high; got {pair}")
        if self.scale[1] > 1:
            raise ValueError(f"scale is a fraction of the image area, at most 1; got {self.scale}")

    def module(self) -> Any:
        ka = kornia_augmentation()
        return ka.RandomResizedCrop(
            size=self._hw, scale=tuple(self.scale), ratio=tuple(self.ratio), p=1.0
        )

    def eval(self, x: torch.Tensor) -> torch.Tensor:
        ka = kornia_augmentation()
        h, w = self._hw
        if x.dim() >= 4 and (x.shape[-2] < h or x.shape[-1] < w):
            return self._run(ka.Resize(self._hw), x)
        return self._run(ka.CenterCrop(self._hw, p=1.0), x)

    def out_shape(self, shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*shape[:-2], *self._hw)


@registry.register("transform", "color_jitter")
class ColorJitter(ImageAugmentation):
    """Random brightness, contrast, saturation and hue changes (kornia's ColorJitter), with
    probability ``p``; saturation and hue need three channels."""

    name = "color_jitter"

    def __init__(
        self,
        brightness: float = 0.0,
        contrast: float = 0.0,
        saturation: float = 0.0,
        hue: float = 0.0,
        p: float = 1.0,
    ) -> None:
        if min(brightness, contrast, saturation, hue) < 0 or hue > 0.5:
            raise ValueError("brightness, contrast and saturation take >= 0; hue takes [0, 0.5]")
        self.brightness, self.contrast = float(brightness), float(contrast)
        self.saturation, self.hue, self.p = float(saturation), float(hue), _prob(p)

    def module(self) -> Any:
        return kornia_augmentation().ColorJitter(
            self.brightness, self.contrast, self.saturation, self.hue, p=self.p
        )


@registry.register("transform", "normalize")
class Normalize(ImageAugmentation):
    """(x - mean) / std per channel, in training and at evaluation alike (pixels from an
    images source are in [0, 1])."""

    name = "normalize"

    def __init__(self, mean: list[float], std: list[float]) -> None:
        if len(mean) != len(std) or not mean:
            raise ValueError(f"mean and std need one value per channel; got {mean} and {std}")
        if any(s <= 0 for s in std):
            raise ValueError(f"std must be positive; got {std}")
        self.mean, self.std = [float(m) for m in mean], [float(s) for s in std]

    def module(self) -> Any:
        import torch

        return kornia_augmentation().Normalize(
            mean=torch.tensor(self.mean), std=torch.tensor(self.std), p=1.0
        )

    def train(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.eval(x)  # deterministic: never draws from the generator

    def eval_module(self) -> Any:
        return self._module()
