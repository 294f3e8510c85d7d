"""``model: {target: my_pkg.nets.SleepNet, params: {...}}``: a user's ``nn.Module`` (or a
function returning one) or a scikit-learn style estimator, built by an allowed import path."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from trainspec.errors import ModelError, RegistryError, closest
from trainspec.models._graph import pick_output
from trainspec.models._graph_build import raise_problems
from trainspec.models._model import Model
from trainspec.models._params import check_params, signature_of
from trainspec.models._probe import Shape, fmt_shapes, make_probes
from trainspec.models._shapes import merge_input_shapes, split_declared
from trainspec.models._sklearn import SklearnModel
from trainspec.models._torch_model import TorchModel
from trainspec.registry import resolve_import
from trainspec.spec._schema_model import ImportedModel

__all__ = ["build_imported"]


def _is_estimator(obj: Any) -> bool:
    return all(callable(getattr(obj, m, None)) for m in ("fit", "predict"))


def _construct(spec: ImportedModel, allow_imports: Sequence[str]) -> Any:
    try:
        target = resolve_import(spec.target, allow_imports)
    except RegistryError as exc:
        raise ModelError(f"model.target: {exc}") from None
    if not callable(target):
        raise ModelError(f"model.target: {spec.target!r} is not a class or a function")
    problems = check_params(signature_of(target), spec.params)
    raise_problems([f"model.params ({spec.target}): {p}" for p in problems])
    try:
        built = target(**spec.params)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"model.params: {spec.target} cannot be built from them: {exc}") from exc
    if not isinstance(built, nn.Module) and not _is_estimator(built):
        raise ModelError(
            f"model.target: {spec.target!r} built a {type(built).__name__}, which is neither "
            "an nn.Module nor an estimator with fit() and predict()"
        )
    return built


def _forward_args(module: nn.Module) -> tuple[list[str], list[str], bool]:
    params = inspect.signature(module.forward).parameters.values()
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = [p.name for p in params if p.kind in kinds]
    required = [p.name for p in params if p.kind in kinds and p.default is p.empty]
    any_kw = any(p.kind is p.VAR_KEYWORD for p in params)
    return names, required, any_kw


def _argument_map(
    spec: ImportedModel, module: nn.Module, data_keys: Sequence[str]
) -> dict[str, str]:
    """forward() argument -> batch key."""
    names, required, any_kw = _forward_args(module)
    where = f"model.inputs ({spec.target}.forward)"
    if spec.inputs is not None:
        problems = []
        for arg in spec.inputs:
            if arg not in names and not any_kw:
                near = closest(arg, names)
                hint = f"; did you mean {near!r}?" if near else ""
                problems.append(f"{where}: forward() has no argument {arg!r}{hint}")
        problems += [
            f"{where}: forward() argument {a!r} is not mapped to a batch key"
            for a in required
            if a not in spec.inputs
        ]
        raise_problems(problems)
        return dict(spec.inputs)
    if required and set(required) <= set(data_keys):
        return {a: a for a in required}
    if len(required) == 1:
        return {required[0]: data_keys[0] if len(data_keys) == 1 else "x"}
    raise ModelError(
        f"{where}: forward() takes {', '.join(required) or 'no required arguments'}; map each "
        "argument to a batch key with inputs: {argument: key}"
    )


def _probe(
    module: nn.Module,
    spec: ImportedModel,
    arg_map: Mapping[str, str],
    shapes: Mapping[str, Shape],
    dtypes: Mapping[str, str],
) -> None:
    """Fail now, not mid-training, when the module cannot take the declared shapes."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            for probe in make_probes(shapes, dtypes=dtypes):
                out = module(**{a: probe[k] for a, k in arg_map.items()})
                pick_output(out, spec.output, f"{spec.target}.forward")
    except ValueError as exc:
        raise ModelError(f"model.output: {exc}") from exc
    except (RuntimeError, TypeError, IndexError) as exc:
        raise ModelError(
            f"model.target: {spec.target} cannot take inputs of shape "
            f"{fmt_shapes(list(shapes.values()))} ({', '.join(shapes)}): {exc}"
        ) from exc
    finally:
        module.train(was_training)


def build_imported(
    spec: ImportedModel,
    *,
    data_shapes: Mapping[str, Shape] | None,
    allow_imports: Sequence[str],
    task: str,
) -> Model:
    built = _construct(spec, allow_imports)
    if not isinstance(built, nn.Module):
        # Every data key, flattened and concatenated, unless inputs: names some.
        keys = list(spec.inputs.values()) if spec.inputs else list(data_shapes or {}) or ["x"]
        return SklearnModel(built, arch=spec, input_keys=keys)
    declared_shapes, dtypes = split_declared(spec.input_shapes)
    declared = declared_shapes or {}
    arg_map = _argument_map(spec, built, list(data_shapes or declared))
    keys = list(arg_map.values())
    shapes = merge_input_shapes(
        {k: v for k, v in declared.items() if k in keys} or None,
        {k: v for k, v in (data_shapes or {}).items() if k in keys} or None,
        required=False,
    )
    if set(keys) <= set(shapes):
        _probe(built, spec, arg_map, {k: shapes[k] for k in keys}, dtypes)
    return TorchModel(
        built,
        arch=spec,
        input_shapes=shapes,
        input_keys=keys,
        arg_names=list(arg_map),
        output=spec.output,
        task=task,
    )
