"""Export a run's network to ONNX or TorchScript, with a parity check against PyTorch.

The batch axis is dynamic, and so is every axis the model's input shapes leave variable
(``None``: the epochs of a night). Axes at the same position share one name, so inputs whose
lengths must match (two per-epoch inputs of one record) are declared equal. The parity check
runs the exported graph (ONNX through ONNX Runtime) and PyTorch on seeded inputs of sizes other
than the traced ones, reports the largest absolute difference, and fails above ``tolerance``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from trainspec.files import RunDir
from trainspec.inference._run import InferenceError, LoadedRun, load_run

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["EXPORT_FORMATS", "ExportResult", "ensure_onnx", "export_run"]

log = logging.getLogger(__name__)

EXPORT_FORMATS = {"onnx": "model.onnx", "torchscript": "model.pt"}
EXPORT_JSON = "export.json"
TRACE_SIZES = (2, 3)  # (batch, variable axes) of the traced sample
CHECK_SIZES = ((3, 5), (1, 2), (5, 1))  # other sizes: the axes really are dynamic


@dataclass
class ExportResult:
    path: Path
    format: str
    max_abs_diff: float
    tolerance: float
    inputs: dict[str, list[int | str]]  # shapes with the dynamic axes named
    output: str = "output"
    exporter: str = ""
    checked: list[dict[str, list[int]]] = field(default_factory=list)
    # Files that must travel with ``path`` (ONNX weights over 2 GiB); empty for one file.
    extra_files: list[str] = field(default_factory=list)


def _wrapper(run: LoadedRun) -> nn.Module:
    from torch import nn

    from trainspec.models import TorchModel

    model = run.model
    if not model.supports_export:
        raise InferenceError(
            f"export needs a PyTorch model; run {run.root} holds a {model.kind_label} "
            "(serve or predict it as it is)"
        )
    keys = model.input_keys
    torch_model = cast(TorchModel, model)  # the kind that supports export

    class Exported(nn.Module):
        """The network with the model's batch keys as positional inputs, one output."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = torch_model.module

        def forward(self, *xs: torch.Tensor) -> torch.Tensor:
            return torch_model.forward_batch(dict(zip(keys, xs, strict=True)))

    return Exported().eval()


def _shapes(run: LoadedRun) -> dict[str, tuple[int | None, ...]]:
    shapes = dict(getattr(run.model, "input_shapes", {}) or run.input_shapes)
    missing = [k for k in run.input_keys if k not in shapes]
    if missing:
        raise InferenceError(f"the run records no input shape for {missing}; cannot export")
    return {k: tuple(shapes[k]) for k in run.input_keys}


def _sample(
    shapes: dict[str, tuple[int | None, ...]], batch: int, var: int, seed: int
) -> tuple[torch.Tensor, ...]:
    import torch

    gen = torch.Generator().manual_seed(seed)
    return tuple(
        torch.randn(batch, *(var if d is None else d for d in shape), generator=gen)
        for shape in shapes.values()
    )


def _named_axes(shapes: dict[str, tuple[int | None, ...]]) -> dict[str, dict[int, str]]:
    return {
        k: {0: "batch", **{i + 1: f"axis{i + 1}" for i, d in enumerate(s) if d is None}}
        for k, s in shapes.items()
    }


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporters print progress and deprecation notes; keep them out of the user's way."""
    names = ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript", "torch.fx")
    levels = {n: logging.getLogger(n).level for n in names}
    with warnings.catch_warnings(), contextlib.redirect_stdout(_Null()):
        warnings.simplefilter("ignore")
        for n in names:
            logging.getLogger(n).setLevel(logging.ERROR)
        try:
            yield
        finally:
            for n, level in levels.items():
                logging.getLogger(n).setLevel(level)


class _Null:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _export_onnx(
    module: nn.Module, args: tuple[torch.Tensor, ...], axes: dict[str, dict[int, str]], path: Path
) -> str:
    import torch

    names = list(axes)
    dims: dict[str, Any] = {}
    spec = tuple(
        {i: dims.setdefault(n, torch.export.Dim(n)) for i, n in a.items()} for a in axes.values()
    )
    try:
        with _quiet():
            torch.onnx.export(
                module,
                args,
                str(path),
                input_names=names,
                output_names=["output"],
                dynamic_shapes=(spec,),  # forward(*xs): one varargs entry
                dynamo=True,
                verbose=False,
            )
        return "torch.onnx (dynamo)"
    except Exception as exc:  # the exporter raises many kinds; retry with the TorchScript one
        log.warning("the dynamo ONNX exporter failed (%s); retrying with the legacy one", exc)
    with _quiet():
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=names,
            output_names=["output"],
            dynamic_axes={k: dict(a) for k, a in axes.items()},
            dynamo=False,
        )
    return "torch.onnx (torchscript)"


# protobuf's limit on one message: a model this size or larger must keep its weights apart.
ONNX_SINGLE_FILE_LIMIT = 2 * 1024**3


def _finish_onnx(path: Path, metadata: dict[str, str]) -> list[Path]:
    """Fold weights written beside ``path`` into the file itself and add ``metadata``.

    torch's exporter may write the weights to ``model.onnx.data``; a user copying only
    ``model.onnx`` then has a model that will not load. Below protobuf's 2 GiB limit the
    weights go inside; above it they stay in one external file, returned so it can be named.
    """
    import onnx

    model = onnx.load(str(path), load_external_data=True)
    del model.metadata_props[:]
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    beside = sorted(p for p in path.parent.glob(f"{path.name}*") if p != path)
    if model.ByteSize() < ONNX_SINGLE_FILE_LIMIT:
        onnx.save_model(model, str(path), save_as_external_data=False)
        for extra in beside:
            extra.unlink()
        return []
    data = path.with_name(path.name + ".data")
    for extra in beside:
        extra.unlink()
    onnx.save_model(
        model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
        location=data.name,
    )  # fmt: skip
    return [data]


def _onnx_metadata(run: LoadedRun, names: Sequence[str]) -> dict[str, str]:
    from trainspec import __version__

    return {
        "trainspec_version": __version__,
        "task": str(run.task),
        "input_names": json.dumps(list(names)),
        "class_names": json.dumps(list(run.class_names or [])),
        "output": "output",
    }


def _export_torchscript(module: nn.Module, args: tuple[torch.Tensor, ...], path: Path) -> str:
    import torch

    with _quiet(), torch.no_grad():
        traced = torch.jit.trace(module, args)  # type: ignore[no-untyped-call]
    traced.save(str(path))
    return "torch.jit.trace"


def _runner(fmt: str, path: Path, names: Sequence[str]) -> Any:
    if fmt == "onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return lambda xs: np.asarray(
            session.run(None, {n: x.numpy() for n, x in zip(names, xs, strict=True)})[0]
        )
    import torch

    with _quiet():
        loaded = torch.jit.load(str(path))  # type: ignore[no-untyped-call]
    loaded.eval()

    def run(xs: tuple[torch.Tensor, ...]) -> np.ndarray:
        with torch.no_grad():
            return np.asarray(loaded(*xs).numpy())

    return run


def check_parity(
    module: nn.Module,
    fmt: str,
    path: Path,
    shapes: dict[str, tuple[int | None, ...]],
) -> tuple[float, list[dict[str, list[int]]]]:
    """The largest absolute difference between PyTorch and the exported graph."""
    import torch

    run = _runner(fmt, path, list(shapes))
    worst, checked = 0.0, []
    for seed, (batch, var) in enumerate(CHECK_SIZES):
        xs = _sample(shapes, batch, var, seed=100 + seed)
        with torch.no_grad():
            expected = module(*xs).float().numpy()
        got = run(xs)
        if got.shape != expected.shape:
            raise InferenceError(
                f"the exported {fmt} graph gives shape {got.shape} on inputs "
                f"{[tuple(x.shape) for x in xs]}; PyTorch gives {expected.shape}"
            )
        worst = max(worst, float(np.max(np.abs(got - expected), initial=0.0)))
        checked.append({n: list(x.shape) for n, x in zip(shapes, xs, strict=True)})
    return worst, checked


def export_run(
    run: str | Path | LoadedRun,
    *,
    format: str = "onnx",
    out: str | Path | None = None,
    checkpoint: str = "best",
    fold: int | None = None,
    tolerance: float = 1e-4,
    allow_imports: Sequence[str] = (),
) -> ExportResult:
    """Write the run's network as ``model.onnx`` or ``model.pt`` (TorchScript) with
    ``export.json`` under ``out`` (default ``RUN/export/<format>``) and check it against
    PyTorch; ``InferenceError`` when the difference exceeds ``tolerance``."""
    if format not in EXPORT_FORMATS:
        raise InferenceError(f"format must be one of {', '.join(EXPORT_FORMATS)}; got {format!r}")
    loaded = (
        run
        if isinstance(run, LoadedRun)
        else load_run(run, checkpoint=checkpoint, fold=fold, allow_imports=allow_imports)
    )
    module = _wrapper(loaded)
    shapes = _shapes(loaded)
    folder = Path(out) if out is not None else RunDir(loaded.run_dir).export / format
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / EXPORT_FORMATS[format]
    args = _sample(shapes, *TRACE_SIZES, seed=0)
    axes = _named_axes(shapes)
    extra_files: list[Path] = []
    if format == "onnx":
        exporter = _export_onnx(module, args, axes, path)
        extra_files = _finish_onnx(path, _onnx_metadata(loaded, list(shapes)))
    else:
        exporter = _export_torchscript(module, args, path)
    worst, checked = check_parity(module, format, path, shapes)
    named = {
        k: [axes[k].get(i + 1, d) if d is None else d for i, d in enumerate(s)]
        for k, s in shapes.items()
    }
    result = ExportResult(
        path=path,
        format=format,
        max_abs_diff=worst,
        tolerance=tolerance,
        inputs={k: ["batch", *v] for k, v in named.items()},  # type: ignore[list-item]
        exporter=exporter,
        checked=checked,
        extra_files=[p.name for p in extra_files],
    )
    info = {**asdict(result), "path": path.name, "checkpoint": loaded.checkpoint}
    info.update(task=loaded.task, class_names=loaded.class_names, run=str(loaded.run_dir))
    (folder / EXPORT_JSON).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    if worst > tolerance:
        raise InferenceError(
            f"the {format} export of {loaded.run_dir} differs from PyTorch by up to {worst:.3g} "
            f"(tolerance {tolerance:g}); it is in {path} but should not be trusted"
        )
    log.debug("exported %s (largest difference from PyTorch %.3g)", path, worst)
    return result


def ensure_onnx(run: LoadedRun) -> Path:
    """The run's ONNX export for its loaded checkpoint, exported now if missing or stale."""
    folder = RunDir(run.run_dir).export / "onnx"
    info_path = folder / EXPORT_JSON
    if info_path.is_file() and (folder / EXPORT_FORMATS["onnx"]).is_file():
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if info.get("checkpoint") == run.checkpoint:
            return folder / EXPORT_FORMATS["onnx"]
    try:
        return export_run(run, format="onnx", out=folder).path
    except PermissionError:
        import tempfile

        return export_run(run, format="onnx", out=Path(tempfile.mkdtemp())).path
