"""What a run's report shows: learning curves, per-fold results, and the validation split's
predictions (a confusion matrix, or predicted-against-true and residual plots)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trainspec.experiments._report_plot import (
    confusion_figure,
    line_chart,
    render_report_plot,
    scatter,
)
from trainspec.files import RunDir

__all__ = ["curves", "prediction_plots"]

log = logging.getLogger(__name__)

# More points than this in a scatter plot only make the file large.
_MAX_POINTS = 2000


def _families(history: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """``loss`` -> [train/loss, val/loss], ``accuracy`` -> [val/accuracy], ..."""
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    out: dict[str, list[str]] = {}
    for key in keys:
        if "/" not in key or key.endswith("/skipped"):
            continue
        out.setdefault(key.rsplit("/", 1)[-1], []).append(key)
    return out


def curves(histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """One plot per metric; a line per split, labelled with it (train, val), and per fold or
    trial (``histories``' keys) when there are several."""
    first = next(iter(histories.values()), [])
    plots = []
    for name, keys in _families([r for h in histories.values() for r in h] or first).items():
        series: dict[str, list[tuple[float, float]]] = {}
        for label, history in histories.items():
            for key in keys:
                pts = [(float(r["epoch"]), float(r[key])) for r in history if key in r]
                if pts:
                    series[f"{label} {key.rsplit('/', 1)[0]}".strip()] = pts
        if series:
            plots.append(line_chart(name, series, ylabel=name))
    return plots


def _targets(source: Any) -> Any:
    import numpy as np

    order = np.arange(len(source))
    parts = [
        b["target"].numpy()
        for b in source.iter_batches(order, 512, drop_last=False, generator=None)
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def _outputs(model: Any, source: Any) -> Any:
    from trainspec.engine import trainer_for

    return trainer_for(model).outputs(model, source, batch_size=512)


def _split_source(run: Path, config: Mapping[str, Any], fold: int) -> tuple[Any, str, Any]:
    from trainspec.data import prepare_data
    from trainspec.spec import load_spec

    loaded = load_spec({k: v for k, v in config.items() if k != "sweep"})
    job = loaded.job
    assert job is not None
    prepared = prepare_data(
        job.data,
        seed=job.seed,
        task=job.task,
        allow_imports=job.allow_imports,
        cache_dir=RunDir(run).top.shared_cache,
    )
    data = prepared.fold(fold)
    split = "val" if "val" in data.split_names else "test" if "test" in data.split_names else ""
    if not split:
        raise ValueError("the run has no validation or test split to predict")
    return data.source(split), split, job


def prediction_plots(
    run: Path, config: Mapping[str, Any], *, fold: int = 0, model_dir: Path | None = None
) -> tuple[list[str], str | None]:
    """Plots of the saved model's predictions on the validation (else test) split, and a note
    when they cannot be made (data moved, say)."""
    try:
        import numpy as np

        from trainspec.models import load_model

        source, split, job = _split_source(run, config, fold)
        model = load_model(model_dir or RunDir(run).model, allow_imports=job.allow_imports)
        outputs, targets = _outputs(model, source), _targets(source)
    except Exception as exc:  # a report is still worth having without this section
        log.warning("no predictions for %s: %s", run, exc)
        return [], f"predictions could not be computed: {type(exc).__name__}: {exc}"
    info = _data_info(run)
    if info.get("task") == "classification":
        return [_confusion(outputs, targets, info, split)], None
    pred = np.asarray(outputs, dtype=float).reshape(len(targets), -1)[:, 0]
    true = np.asarray(targets, dtype=float).reshape(len(targets), -1)[:, 0]
    keep = slice(0, _MAX_POINTS)
    pts = list(zip(true[keep].tolist(), pred[keep].tolist(), strict=True))
    res = list(zip(pred[keep].tolist(), (true - pred)[keep].tolist(), strict=True))
    return [
        scatter(
            f"predicted against true ({split})",
            pts,
            xlabel="true",
            ylabel="predicted",
            reference="diagonal",
        ),
        scatter(
            f"residuals ({split})",
            res,
            xlabel="predicted",
            ylabel="true - predicted",
            reference="zero",
        ),
    ], None


def _data_info(run: Path) -> dict[str, Any]:
    info: dict[str, Any] = RunDir(run).top.read_or(RunDir.DATA) or {}
    return info


def _confusion(outputs: Any, targets: Any, info: Mapping[str, Any], split: str) -> str:
    import numpy as np

    out = np.asarray(outputs)
    if np.issubdtype(out.dtype, np.integer):  # an estimator's labels, not a network's scores
        pred = out.reshape(-1)
    elif out.ndim >= 2 and out.shape[-1] > 1:
        pred = out.reshape(-1, out.shape[-1]).argmax(axis=-1)
    else:
        pred = (out.reshape(-1) > (0.5 if out.min() >= 0 else 0.0)).astype(int)
    true = np.asarray(targets).reshape(-1).astype(int)
    keep = true >= 0  # ignored labels
    names = [str(n) for n in info.get("class_names") or []]
    k = max(len(names), int(true.max(initial=0)) + 1, int(pred.max(initial=0)) + 1)
    names = names + [str(i) for i in range(len(names), k)]
    matrix = np.zeros((k, k), dtype=int)
    np.add.at(matrix, (true[keep], pred[keep]), 1)
    acc = float(np.trace(matrix) / max(matrix.sum(), 1))
    title = f"confusion matrix ({split}, accuracy {acc:.3f})"
    return render_report_plot(title, lambda: confusion_figure(title, matrix.tolist(), names))
