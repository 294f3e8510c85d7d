"""The ``data:`` section of a job spec: source, roles, transforms, split and loader."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from trainspec.spec._base import Section

__all__ = [
    "ArraysSource",
    "CsvSource",
    "DataSpec",
    "DatasetSource",
    "FolderSource",
    "Hdf5Source",
    "LoaderSpec",
    "NumpySource",
    "ParquetSource",
    "SklearnSource",
    "SourceSpec",
    "SplitSpec",
    "TransformSpec",
]


class SklearnSource(Section):
    type: Literal["sklearn"]
    name: str = Field(description="A scikit-learn built-in data set: digits, iris, wine, ...")


class CsvSource(Section):
    type: Literal["csv"]
    path: str
    options: dict[str, Any] = Field(default_factory=dict, description="pandas.read_csv options.")


class ParquetSource(Section):
    type: Literal["parquet"]
    path: str


class NumpySource(Section):
    type: Literal["npy", "npz"]
    path: str


class Hdf5Source(Section):
    type: Literal["hdf5"]
    path: str


class FolderSource(Section):
    type: Literal["folder"]
    path: str = Field(description="Folder of per-subject files.")
    manifest: str = Field(description="Table (CSV or Parquet) listing the files, one row each.")
    file_column: str = "file"


class DatasetSource(Section):
    type: Literal["dataset"]
    target: str = Field(description="Import path of a torch Dataset class.")
    params: dict[str, Any] = Field(default_factory=dict)
    collate_fn: str | None = None


class ArraysSource(Section):
    """Arrays or a DataFrame handed over from Python (``train_model(X, y, config)``)."""

    type: Literal["arrays"]


SourceSpec = Annotated[
    SklearnSource
    | CsvSource
    | ParquetSource
    | NumpySource
    | Hdf5Source
    | FolderSource
    | DatasetSource
    | ArraysSource,
    Field(discriminator="type"),
]


class TransformSpec(Section):
    """One transform: ``type`` names a registered transform or an import path; the rest are
    its parameters, checked when it is built."""

    model_config = Section.model_config | {"extra": "allow"}
    type: str


class SplitSpec(Section):
    method: Literal[
        "holdout",
        "stratified",
        "group",
        "time",
        "kfold",
        "stratified_kfold",
        "group_kfold",
        "predefined",
    ] = "stratified"
    ratios: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.8, "val": 0.2},
        description="Split name -> fraction; must sum to 1.",
    )
    folds: int | None = Field(default=None, ge=2, description="Number of folds for k-fold.")
    fold: int | None = Field(default=None, ge=0, description="Run one fold only.")
    column: str | None = Field(default=None, description="Predefined split or time column.")
    file: str | None = Field(default=None, description="Predefined split index file (JSON).")
    seed: int | None = Field(default=None, description="Default: the job's seed.")

    @model_validator(mode="after")
    def _ratios_sum_to_one(self) -> SplitSpec:
        total = sum(self.ratios.values())
        if self.ratios and abs(total - 1.0) > 1e-6:
            raise ValueError(f"split ratios must sum to 1; they sum to {total:g}")
        if any(r <= 0 for r in self.ratios.values()):
            raise ValueError("every split ratio must be greater than 0")
        return self


class LoaderSpec(Section):
    num_workers: int = Field(default=0, ge=0)
    pin_memory: bool = False
    drop_last: bool = False
    shuffle: bool = True


class DataSpec(Section):
    source: SourceSpec
    features: list[str] | str | None = Field(
        default=None, description="Feature columns or keys; default: all but the other roles."
    )
    target: str | None = None
    group: str | None = Field(default=None, description="Group column, e.g. subject id.")
    weight: str | None = Field(default=None, description="Per-sample weight column.")
    id: str | None = None
    inputs: dict[str, list[str] | str] | None = Field(
        default=None, description="Several named inputs: input name -> columns or key."
    )
    transforms: list[TransformSpec] = Field(default_factory=list)
    split: SplitSpec = Field(default_factory=SplitSpec)
    loader: LoaderSpec = Field(default_factory=LoaderSpec)
    cache: bool = True
