"""One chunk of new data mapped as at training: roles picked by the run's ``data:`` spec, then
its signal and fitted transforms (the same steps as ``trainspec.data.prepare_inference``, on a
chunk instead of a whole source)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from trainspec.data import (
    KeyTable,
    apply_signal,
    assemble,  # see the report: wanted public
)
from trainspec.inference._run import InferenceError

if TYPE_CHECKING:
    from trainspec.data import FittedTransforms
    from trainspec.spec import DataSpec

__all__ = ["PreparedChunk", "prepare_chunk"]


@dataclass
class PreparedChunk:
    """Model-ready inputs of one chunk: float32 arrays by batch key, rows first."""

    inputs: dict[str, np.ndarray]
    n_samples: int
    offsets: np.ndarray | None  # (N + 1,) row offsets when a sample is a record
    ids: np.ndarray | None  # (N,) the id key, or record names
    target: np.ndarray | None  # raw target values, per sample or per row
    groups: np.ndarray | None = None  # (N,) a grouping key's values, when asked for
    id_name: str | None = None  # the key ``ids`` came from when the spec names none

    @property
    def n_rows(self) -> int:
        return self.n_samples if self.offsets is None else int(self.offsets[-1])


def _features(spec: DataSpec, transforms: FittedTransforms, names: set[str]) -> Any:
    """The training columns by name, so extra or reordered columns in new data do no harm."""
    if spec.features is not None or spec.inputs is not None:
        return spec.features
    raw = (transforms.info.get("raw_columns") or {}).get("x")
    if not raw:
        return None
    missing = [c for c in raw if c not in names]
    if not missing:
        return list(raw)
    if len(raw) > 1 and len(missing) < len(raw):
        shown = ", ".join(map(repr, missing[:20])) + (" ..." if len(missing) > 20 else "")
        raise InferenceError(
            f"the new data lacks {len(missing)} of the {len(raw)} columns the model was trained "
            f"on: {shown}; add them (the model needs every training column)"
        )
    return None


def inference_spec(spec: DataSpec, transforms: FittedTransforms, table: KeyTable) -> DataSpec:
    """The run's data spec for this table: no weights, groups or split column; the target and
    id only when the new data has them."""
    names = set(table.names())
    target = spec.target or table.meta.get("default_target")
    keep_target = target is not None and target in names
    if not keep_target:
        table.meta.pop("default_target", None)
    default_id = table.meta.get("default_id")  # e.g. an image's path
    update: dict[str, Any] = {
        "target": target if keep_target else None,
        "weight": None,
        "group": None,
        "id": spec.id if spec.id in names else (default_id if default_id in names else None),
        "features": _features(spec, transforms, names),
        "split": spec.split.model_copy(update={"column": None}),
    }
    return spec.model_copy(update=update)


def prepare_chunk(
    spec: DataSpec,
    transforms: FittedTransforms,
    table: KeyTable,
    *,
    group: str | None = None,
    id_key: str | None = None,
) -> PreparedChunk:
    """Inputs, ids and targets of ``table`` as the run's model takes them; ``group`` names a
    key whose per-sample values to keep, ``id_key`` one to use for the ids instead of the
    spec's ``data.id``."""
    mapped = inference_spec(spec, transforms, table)
    if group is not None or id_key is not None:
        names = table.names()
        update = {"group": group} if group is not None else {}
        if id_key is not None and id_key in names:
            update["id"] = id_key
        mapped = mapped.model_copy(update=update)
    data = assemble(mapped, table)
    data = apply_signal(transforms.steps, data)
    inputs = transforms.transform(data)
    ids = data.ids
    if ids is None and data.offsets is not None and "record" in table.record_keys:
        ids = table.record_keys["record"]
    id_name = mapped.id if mapped.id != spec.id else None  # a default id (an image's path)
    return PreparedChunk(
        inputs, data.n_samples, data.offsets, ids, data.target, data.groups, id_name
    )
