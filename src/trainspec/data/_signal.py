"""Signal transforms (stateless, before splitting) and training-time augmentations."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from trainspec.data._table import Assembled, InputArray
from trainspec.data._tbase import Transform
from trainspec.errors import DataError
from trainspec.registry import registry

if TYPE_CHECKING:
    import torch

__all__ = [
    "Augmentation",
    "Filter",
    "GaussianNoise",
    "RandomCrop",
    "Resample",
    "SignFlip",
    "SignalTransform",
    "Window",
]


class SignalTransform(Transform):
    """Stateless, applied to every sample before splitting; its output is cached."""

    stage = "signal"

    def apply(self, data: Assembled, inputs: list[str]) -> Assembled:
        raise NotImplementedError


def _fs(given: float | None, data: Assembled, name: str) -> float:
    fs = given if given is not None else data.meta.get("fs")
    if fs is None:
        raise DataError(
            f"{name}: the sampling rate is unknown; give 'fs' (or 'from_hz') or store an 'fs' "
            "attribute in the source file"
        )
    return float(fs)


def _repeat(values: np.ndarray | None, times: int) -> np.ndarray | None:
    return None if values is None else np.repeat(values, times, axis=0)


@registry.register("transform", "window")
class Window(SignalTransform):
    """Cut the last axis into windows of ``size`` every ``step`` samples; each window becomes
    a sample with its source sample's target and roles (its origin is kept for splits)."""

    def __init__(self, size: int, step: int | None = None) -> None:
        if size < 1 or (step is not None and step < 1):
            raise ValueError(f"size and step must be at least 1, got size={size}, step={step}")
        self.size = size
        self.step = step

    def apply(self, data: Assembled, inputs: list[str]) -> Assembled:
        if data.is_sequence:
            raise DataError(
                "window: record samples are already sequences of epochs; use source.unit: rows "
                "to window each row, or segment the records when writing the file"
            )
        step = self.step or self.size
        counts = set()
        for name in inputs:
            length = data.inputs[name].values.shape[-1]
            if data.inputs[name].values.ndim < 2 or length < self.size:
                raise DataError(
                    f"window: input {name!r} has {length} samples, fewer than {self.size}"
                )
            counts.add(1 + (length - self.size) // step)
        if len(counts) != 1:
            raise DataError(f"window: the inputs give different window counts {sorted(counts)}")
        w = counts.pop()
        for name, x in data.inputs.items():
            if name in inputs:
                view = np.lib.stride_tricks.sliding_window_view(x.values, self.size, axis=-1)
                view = np.moveaxis(view[..., ::step, :], -2, 1)  # (N, W, ..., size)
                values = view.reshape(-1, *view.shape[2:])
                data.inputs[name] = InputArray(np.ascontiguousarray(values), None)
            else:
                data.inputs[name] = InputArray(np.repeat(x.values, w, axis=0), x.columns)
        data.target, data.groups, data.ids, data.weights = (
            _repeat(data.target, w),
            _repeat(data.groups, w),
            _repeat(data.ids, w),
            _repeat(data.weights, w),
        )
        data.extra = {k: np.repeat(v, w, axis=0) for k, v in data.extra.items()}
        data.extra["window.origin"] = np.repeat(np.arange(data.n_samples), w)
        data.n_samples *= w
        return data


@registry.register("transform", "resample")
class Resample(SignalTransform):
    """Polyphase resampling of the last axis (scipy.signal.resample_poly) to ``to_hz``."""

    def __init__(self, to_hz: float, from_hz: float | None = None) -> None:
        if to_hz <= 0:
            raise ValueError(f"to_hz must be positive, got {to_hz}")
        self.to_hz = to_hz
        self.from_hz = from_hz

    def apply(self, data: Assembled, inputs: list[str]) -> Assembled:
        from scipy.signal import resample_poly

        ratio = Fraction(self.to_hz / _fs(self.from_hz, data, "resample")).limit_denominator(1000)
        for name in inputs:
            x = data.inputs[name]
            out = resample_poly(x.values, ratio.numerator, ratio.denominator, axis=-1)
            data.inputs[name] = InputArray(out.astype(np.float32), None)
        data.meta["fs"] = self.to_hz
        return data


@registry.register("transform", "filter")
class Filter(SignalTransform):
    """Zero-phase Butterworth filter on the last axis: band-pass with ``low`` and ``high``,
    high-pass with ``low`` only, low-pass with ``high`` only. On records the epochs of a record
    are filtered as one continuous signal (``continuous``), so epoch edges add no artefacts."""

    def __init__(
        self,
        low: float | None = None,
        high: float | None = None,
        order: int = 4,
        fs: float | None = None,
        continuous: bool = True,
    ) -> None:
        if low is None and high is None:
            raise ValueError("filter needs 'low', 'high' or both (in Hz)")
        if low is not None and high is not None and low >= high:
            raise ValueError(f"low ({low}) must be below high ({high})")
        self.low, self.high, self.order, self.fs, self.continuous = low, high, order, fs, continuous

    def _sos(self, fs: float) -> Any:
        from scipy.signal import butter

        nyquist = fs / 2
        for edge in (self.low, self.high):
            if edge is not None and not 0 < edge < nyquist:
                raise DataError(f"filter: {edge} Hz must lie between 0 and Nyquist ({nyquist} Hz)")
        if self.low is not None and self.high is not None:
            return butter(self.order, [self.low, self.high], "bandpass", fs=fs, output="sos")
        if self.low is not None:
            return butter(self.order, self.low, "highpass", fs=fs, output="sos")
        return butter(self.order, self.high, "lowpass", fs=fs, output="sos")

    def apply(self, data: Assembled, inputs: list[str]) -> Assembled:
        from scipy.signal import sosfiltfilt

        sos = self._sos(_fs(self.fs, data, "filter"))
        for name in inputs:
            values = data.inputs[name].values.astype(np.float64)
            if data.offsets is not None and self.continuous:
                out = np.empty_like(values)
                for a, b in zip(data.offsets[:-1], data.offsets[1:], strict=True):
                    if b > a:
                        rec = np.moveaxis(values[a:b], 0, -2)  # (*mid, T, S)
                        flat = rec.reshape(*rec.shape[:-2], -1)
                        filt = sosfiltfilt(sos, flat, axis=-1).reshape(rec.shape)
                        out[a:b] = np.moveaxis(filt, -2, 0)
            else:
                out = sosfiltfilt(sos, values, axis=-1)
            data.inputs[name] = InputArray(out.astype(np.float32), data.inputs[name].columns)
        return data


class Augmentation(Transform):
    """Applied to training batches only, with the engine's generator, so runs resume exactly.

    Tensors are (B, ...) per sample or (B, T, ...) for sequences; one draw per sample.
    """

    stage = "augment"

    def train(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def eval(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def out_shape(self, shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return shape


def _per_sample(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return values.view(-1, *([1] * (x.dim() - 1)))


@registry.register("transform", "gaussian_noise")
class GaussianNoise(Augmentation):
    """Add N(0, std^2) noise, to each training sample with probability ``p``."""

    def __init__(self, std: float = 0.01, p: float = 1.0) -> None:
        if std < 0 or not 0 <= p <= 1:
            raise ValueError(f"need std >= 0 and 0 <= p <= 1, got std={std}, p={p}")
        self.std, self.p = std, p

    def train(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        import torch

        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        keep = torch.rand(x.shape[0], generator=generator, device=x.device) < self.p
        return x + self.std * noise * _per_sample(keep.to(x.dtype), x)


@registry.register("transform", "sign_flip")
class SignFlip(Augmentation):
    """Multiply a training sample by -1 with probability ``p`` (sign inversion)."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"p must lie in [0, 1], got {p}")
        self.p = p

    def train(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        import torch

        flip = torch.rand(x.shape[0], generator=generator, device=x.device) < self.p
        return x * _per_sample(1.0 - 2.0 * flip.to(x.dtype), x)


@registry.register("transform", "random_crop")
class RandomCrop(Augmentation):
    """Crop the last axis to ``size`` at a random offset per training sample; evaluation takes
    the centre crop, so shapes match. ``size: [h, w]`` crops the last two axes (images), and so
    on for more axes."""

    def __init__(self, size: int | list[int]) -> None:
        sizes = [size] if isinstance(size, int) else list(size)
        if not sizes or any(s < 1 for s in sizes):
            raise ValueError(f"size must be at least 1 (or a list of such), got {size}")
        self.size = size
        self._sizes = sizes

    def _crop(self, x: torch.Tensor, starts: list[torch.Tensor]) -> torch.Tensor:
        import torch

        k = len(self._sizes)
        if x.dim() < k + 1:
            raise DataError(f"random_crop: size {self.size} needs {k} axes; input is {x.shape}")
        for axis, size, start in zip(range(-k, 0), self._sizes, starts, strict=True):
            length = x.shape[axis]
            if length < size:
                raise DataError(
                    f"random_crop: size {self.size} exceeds the input's axes {tuple(x.shape[-k:])}"
                )
            along = [size if d == x.dim() + axis else 1 for d in range(x.dim())]
            idx = _per_sample(start, x) + torch.arange(size, device=x.device).view(along)
            shape = list(x.shape)
            shape[axis] = size
            x = torch.gather(x, axis, idx.expand(shape))
        return x

    def train(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        import torch

        starts = []
        for axis, size in zip(range(-len(self._sizes), 0), self._sizes, strict=True):
            high = x.shape[axis] - size + 1
            start = torch.randint(0, max(high, 1), (x.shape[0],), generator=generator)
            starts.append(start.to(x.device))
        return self._crop(x, starts)

    def eval(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        starts = [
            torch.full((x.shape[0],), max(x.shape[axis] - size, 0) // 2, dtype=torch.long).to(
                x.device
            )
            for axis, size in zip(range(-len(self._sizes), 0), self._sizes, strict=True)
        ]
        return self._crop(x, starts)

    def out_shape(self, shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        k = len(self._sizes)
        return (*shape[:-k], *self._sizes)
