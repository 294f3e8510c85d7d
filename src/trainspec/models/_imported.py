"""``model: {target: my_pkg.nets.SleepNet, params: {...}}``: a user's ``nn.Module`` (or a
function returning one) or a scikit-learn style estimator, built by an allowed import path.

Constructor conventions: keyword ``params`` (the default), the whole mapping as one argument
(``params_as: net_parameters``), positional ``args``, and an example batch built from the
data's shapes (``example_batch: collated_sample``) for modules that probe shapes from a sample.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from trainspec.errors import ModelError, SpecError, closest, raised_at
from trainspec.models._fields import check_keys, default_fields, probe_fields
from trainspec.models._graph import pick_output
from trainspec.models._graph_build import problem_text, raise_problems
from trainspec.models._model import Model
from trainspec.models._probe import Shape, fmt_shapes, make_probes
from trainspec.models._shapes import merge_input_shapes, split_declared
from trainspec.models._sklearn import SklearnModel
from trainspec.models._torch_model import TorchModel
from trainspec.registry import check_component_params, described_by, resolve, signature_of
from trainspec.spec import BATCH_FIELDS, ImportedModel

__all__ = ["build_imported"]


@dataclass(frozen=True)
class _Forward:
    """What a ``forward`` takes: argument names, the required ones, whether ``**kwargs``."""

    names: list[str]
    required: list[str]
    any_kw: bool


def _is_estimator(obj: Any) -> bool:
    return all(callable(getattr(obj, m, None)) for m in ("fit", "predict"))


def _resolve(spec: ImportedModel, allow_imports: Sequence[str]) -> Callable[..., Any]:
    try:
        target = resolve("model", spec.target, ("model", "target"), allow=allow_imports)
    except SpecError as exc:
        raise_problems([problem_text(p) for p in exc.problems])
    if not callable(target):
        raise ModelError(f"model.target: {spec.target!r} is not a class or a function")
    return target  # type: ignore[no-any-return]


def _keywords(spec: ImportedModel, example: Mapping[str, torch.Tensor] | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = (
        {spec.params_as: dict(spec.params)} if spec.params_as else dict(spec.params)
    )
    if spec.example_batch is not None:
        kwargs[spec.example_batch] = dict(example or {})
    return kwargs


def _check_constructor(spec: ImportedModel, target: Callable[..., Any]) -> None:
    """The constructor's arguments against its signature, before anything is built: the
    parameters (or the ``params_as`` argument), and the ``example_batch`` argument."""
    sig = signature_of(target)
    filled = sig.names[: len(spec.args)]  # positional arguments fill the first parameters
    batch = spec.example_batch
    described = described_by("model", spec.target, sig, filled=filled, inferred=[batch or ""])
    given: dict[str, Any] = {spec.params_as: spec.params} if spec.params_as else dict(spec.params)
    if batch is not None:
        given[batch] = {}
    base = ("model",) if spec.params_as else ("model", "params")
    problems = check_component_params(described, given, base)
    raise_problems([problem_text(replace(p, path=_placed(p.path, spec))) for p in problems])


def _placed(path: tuple[str | int, ...], spec: ImportedModel) -> tuple[str | int, ...]:
    """The key that names an argument: ``model.example_batch``, ``model.params_as``, or the
    parameter under ``model.params``."""
    if path[-1] == spec.example_batch:
        return ("model", "example_batch")
    return ("model", "params_as") if spec.params_as else path


def _construct(
    spec: ImportedModel,
    target: Callable[..., Any],
    example: Mapping[str, torch.Tensor] | None,
) -> Any:
    key = "params_as" if spec.params_as else "params"
    try:
        built = target(*spec.args, **_keywords(spec, example))
    except (TypeError, ValueError, KeyError, RuntimeError, IndexError) as exc:
        raise ModelError(
            f"model.{key}: {spec.target} cannot be built from them: {exc}{raised_at(exc)}"
        ) from exc
    if not isinstance(built, nn.Module) and not _is_estimator(built):
        raise ModelError(
            f"model.target: {spec.target!r} built a {type(built).__name__}, which is neither "
            "an nn.Module nor an estimator with fit() and predict()"
        )
    return built


def _forward_of(fn: Callable[..., Any], bound: bool) -> _Forward | None:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    if not bound and params:
        params = params[1:]  # self
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = [p.name for p in params if p.kind in kinds]
    required = [p.name for p in params if p.kind in kinds and p.default is p.empty]
    return _Forward(names, required, any(p.kind is p.VAR_KEYWORD for p in params))


def _argument_map(spec: ImportedModel, fwd: _Forward, data_keys: Sequence[str]) -> dict[str, str]:
    """forward() argument -> batch key."""
    where = f"model.inputs ({spec.target}.forward)"
    if spec.inputs is not None:
        problems = []
        for arg in spec.inputs:
            if arg not in fwd.names and not fwd.any_kw:
                near = closest(arg, fwd.names)
                hint = f"; did you mean {near!r}?" if near else ""
                problems.append(f"{where}: forward() has no argument {arg!r}{hint}")
        problems += [
            f"{where}: forward() argument {a!r} is not mapped to a batch key"
            for a in fwd.required
            if a not in spec.inputs
        ]
        raise_problems(problems)
        return dict(spec.inputs)
    # Arguments named like the batch keys, the batch fields (mask, lengths, weight) included.
    named = set(fwd.required) & set(data_keys)
    if named and set(fwd.required) <= set(data_keys) | set(BATCH_FIELDS):
        return {a: a for a in fwd.required}
    if len(fwd.required) == 1:
        return {fwd.required[0]: data_keys[0] if len(data_keys) == 1 else "x"}
    raise ModelError(
        f"{where}: forward() takes {', '.join(fwd.required) or 'no required arguments'}; map "
        "each argument to a batch key with inputs: {argument: key}"
    )


def _probe(
    module: nn.Module,
    spec: ImportedModel,
    arg_map: Mapping[str, str],
    probes: Sequence[Mapping[str, torch.Tensor]],
    shapes: Mapping[str, Shape],
) -> None:
    """Fail now, not mid-training, when the module cannot take the declared shapes."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            for probe in probes:
                out = module(**{a: probe[k] for a, k in arg_map.items()})
                pick_output(out, spec.output.select, f"{spec.target}.forward")
    except ValueError as exc:
        raise ModelError(f"model.output: {exc}") from exc
    except (RuntimeError, TypeError, IndexError) as exc:
        raise ModelError(
            f"model.target: {spec.target} cannot take inputs of shape "
            f"{fmt_shapes(list(shapes.values()))} ({', '.join(shapes)}): {exc}{raised_at(exc)}"
        ) from exc
    finally:
        module.train(was_training)


@dataclass
class _Plan:
    """How batches reach ``forward``: argument -> batch key, the shapes and dtypes of the data
    keys it reads, the batch fields there are, and probe batches (None: shapes unknown)."""

    arg_map: dict[str, str]
    shapes: dict[str, Shape]
    fields: dict[str, Shape]
    probes: list[dict[str, torch.Tensor]] | None


def _plan(
    spec: ImportedModel,
    fwd: _Forward | None,
    data_shapes: Mapping[str, Shape] | None,
    fields: Mapping[str, Shape] | None,
) -> _Plan | None:
    """The plan, or None while forward is unknown (a factory function without inputs:)."""
    declared_shapes, dtypes = split_declared(spec.input_shapes)
    declared: dict[str, Shape] = {k: tuple(v) for k, v in (declared_shapes or {}).items()}
    data_keys = list(data_shapes or declared)
    shapes_all = merge_input_shapes(
        {k: v for k, v in declared.items() if k in data_keys} or None,
        dict(data_shapes) if data_shapes else None,
        required=False,
    )
    there = dict(fields) if fields is not None else default_fields(shapes_all or declared)
    if fwd is not None:
        arg_map = _argument_map(spec, fwd, data_keys)
    elif spec.inputs is not None:
        arg_map = dict(spec.inputs)
    else:
        return None
    if data_shapes is not None or declared:
        raise_problems(check_keys(arg_map, list(shapes_all or declared), there, "model.inputs"))
    keys = list(arg_map.values())
    shapes = {k: shapes_all[k] for k in keys if k in shapes_all}
    probes = None
    if {k for k in keys if k not in there} <= set(shapes):
        generator = torch.Generator().manual_seed(0)  # leaves the init RNG alone
        made = make_probes(shapes, generator=generator, dtypes=dtypes)
        probes = [probe_fields(p, there, keys) for p in made]
    return _Plan(arg_map, shapes, {k: v for k, v in there.items() if k in keys}, probes)


def _sk_keys(spec: ImportedModel, data_shapes: Mapping[str, Shape] | None) -> list[str]:
    # Every data key, flattened and concatenated, unless inputs: names some.
    return list(spec.inputs.values()) if spec.inputs else list(data_shapes or {}) or ["x"]


def _example(spec: ImportedModel, plan: _Plan | None) -> dict[str, torch.Tensor] | None:
    """The example batch for ``example_batch:``, keyed like forward's arguments."""
    if spec.example_batch is None:
        return None
    if plan is None or plan.probes is None:
        raise ModelError(
            f"model.example_batch: an example batch needs the shapes of the inputs "
            f"{spec.target}.forward reads; give model.input_shapes (and model.inputs for a "
            "factory function), or build the model from data"
        )
    return {a: plan.probes[0][k] for a, k in plan.arg_map.items()}


def build_imported(
    spec: ImportedModel,
    *,
    data_shapes: Mapping[str, Shape] | None,
    allow_imports: Sequence[str],
    task: str,
    fields: Mapping[str, Shape] | None = None,
) -> Model:
    """``fields`` are the batch fields the data makes (None: those data of these shapes would
    make); forward's arguments may read them by name."""
    target = _resolve(spec, allow_imports)
    _check_constructor(spec, target)
    if spec.output.kind != "logits" and task != "classification":
        raise ModelError(
            f"model.output.kind: {spec.output.kind!r} is for classification; a regression "
            "model returns values (leave kind at logits)"
        )
    if isinstance(target, type) and not issubclass(target, nn.Module):
        built = _construct(spec, target, None)
        return SklearnModel(built, arch=spec, input_keys=_sk_keys(spec, data_shapes))
    forward = getattr(target, "forward", None) if isinstance(target, type) else None
    plan = _plan(spec, _forward_of(forward, bound=False) if forward else None, data_shapes, fields)
    built = _construct(spec, target, _example(spec, plan))
    if not isinstance(built, nn.Module):
        return SklearnModel(built, arch=spec, input_keys=_sk_keys(spec, data_shapes))
    if plan is None:  # a factory function: forward is known only now
        fwd = _forward_of(built.forward, bound=True) or _Forward(["x"], ["x"], False)
        plan = _plan(spec, fwd, data_shapes, fields)
        assert plan is not None
    if plan.probes is not None:
        _probe(built, spec, plan.arg_map, plan.probes, plan.shapes)
    return TorchModel(
        built,
        arch=spec,
        input_shapes=plan.shapes,
        input_keys=list(plan.arg_map.values()),
        arg_names=list(plan.arg_map),
        output=spec.output.select,
        output_kind=spec.output.kind,
        task=task,
        fields=plan.fields,
    )
