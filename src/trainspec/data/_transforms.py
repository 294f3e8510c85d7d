"""Transforms: the base contract, building from the spec, and the fitted (per-fold) transforms.

Three stages, declared in this order in ``data.transforms``:

- ``signal``: stateless, on all data before splitting (window, resample, filter); cached.
- ``fit``: learned on the training rows of a fold only, then applied to every row
  (standardize, minmax, impute, one_hot, ordinal, a scikit-learn transformer by import path).
  Their state is saved as safetensors + JSON so inference applies the same ones.
- ``augment``: applied to training batches only, driven by the engine's generator.

The provider module of the ``transform`` kind: importing it registers every built-in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trainspec.data import _augment2d as _augment2d  # registers the image augmentations
from trainspec.data import _signal as _signal  # registers the signal transforms
from trainspec.data import _text as _text  # registers tokenize
from trainspec.data._fitted import SklearnTransform
from trainspec.data._tbase import FittedTransform, Transform, select_columns
from trainspec.errors import DataError, closest
from trainspec.registry import instantiate, resolve
from trainspec.spec import TransformSpec

__all__ = [
    "FittedTransform",
    "Step",
    "Transform",
    "build_steps",
    "names_after",
    "select_columns",
]


@dataclass
class Step:
    """One spec entry, built: which transform, on which inputs, where in the spec."""

    index: int
    name: str
    spec: TransformSpec
    inputs: list[str]
    template: Transform

    @property
    def stage(self) -> str:
        return self.template.stage

    def where(self) -> str:
        return f"data.transforms[{self.index}] ({self.name})"

    def fresh(self) -> Transform:
        """A new, unfitted instance with the same parameters (one per fold and input)."""
        return _instantiate(
            self.spec, self.index, self._factory(), getattr(self.template, "allow", ())
        )

    def _factory(self) -> Any:
        return getattr(self.template, "factory_", type(self.template))


def _params(spec: TransformSpec) -> dict[str, Any]:
    return dict(spec.model_extra or {})


def _instantiate(spec: TransformSpec, index: int, factory: Any, allow: Sequence[str]) -> Transform:
    path = ("data", "transforms", index)
    params = _params(spec)
    if isinstance(factory, type) and issubclass(factory, Transform):
        built: Transform = instantiate(
            "transform", {"type": spec.type, **params}, path, target=factory
        )
        return built
    if hasattr(factory, "fit") and hasattr(factory, "transform"):
        return SklearnTransform(factory, spec.type, params, index, allow)
    raise DataError(
        f"data.transforms[{index}].type: {spec.type!r} is neither a trainspec transform nor a "
        "class with fit and transform methods"
    )


_ORDER = {"signal": 0, "fit": 1, "augment": 2}


def build_steps(
    specs: Sequence[TransformSpec], input_names: Sequence[str], allow: Sequence[str] = ()
) -> list[Step]:
    """Build and check every transform: known names, parameters, inputs, stage order."""
    steps: list[Step] = []
    input_names = list(input_names)
    for i, spec in enumerate(specs):
        factory = resolve("transform", spec.type, ("data", "transforms", i, "type"), allow=allow)
        template = _instantiate(spec, i, factory, allow)
        targets = list(spec.inputs) if spec.inputs is not None else list(input_names)
        for name in targets:
            if name not in input_names:
                near = closest(name, input_names)
                hint = f"; did you mean {near!r}?" if near else ""
                raise DataError(
                    f"data.transforms[{i}] ({spec.type}): unknown input {name!r}{hint} "
                    f"Inputs: {', '.join(input_names)}"
                )
        step = Step(i, spec.type, spec, targets, template)
        if steps and _ORDER[step.stage] < _ORDER[steps[-1].stage]:
            prev = steps[-1]
            raise DataError(
                f"{step.where()} is a {step.stage} transform but comes after {prev.where()}, a "
                f"{prev.stage} transform; list signal transforms first, then fitted ones, then "
                "augmentations"
            )
        steps.append(step)
        input_names = _renamed(step, input_names)
    return steps


def _renamed(step: Step, names: list[str]) -> list[str]:
    # A signal transform may replace its input by others (tokenize: text -> ids, mask).
    rename = getattr(step.template, "output_names", None)
    if step.stage != "signal" or rename is None:
        return names
    try:
        out: list[str] = rename(names, step.inputs)
    except DataError as exc:
        raise DataError(f"{step.where()}: {exc}") from None
    return out


def names_after(steps: Sequence[Step], input_names: Sequence[str]) -> list[str]:
    """The model's input names: ``input_names`` (the data spec's) once every step has run."""
    names = list(input_names)
    for step in steps:
        names = _renamed(step, names)
    return names
