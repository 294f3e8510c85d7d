"""The ``data:`` section of a job spec: source, roles, transforms, split and loader.

Every source exposes *keys*: named arrays whose first axis is the row. For a table (CSV,
Parquet, a scikit-learn data set, a DataFrame) the keys are its columns; for NPZ and tabular
HDF5 they are the arrays / datasets; for record data (HDF5 ``records`` groups, a folder of
per-subject files) they are the arrays inside each record, concatenated over records, plus the
record attributes (one value per record). Roles (``target``, ``group``, ``weight``, ``id``) and
``inputs`` name keys.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from trainspec.spec._base import Section

__all__ = [
    "ArrayFile",
    "ArraysSource",
    "CsvSource",
    "DataSpec",
    "DatasetSource",
    "FolderSource",
    "Hdf5Source",
    "ImagesSource",
    "InputSpec",
    "LoaderSpec",
    "NumpySource",
    "ParquetSource",
    "SklearnSource",
    "SourceSpec",
    "SplitSpec",
    "TransformSpec",
    "WeightSpec",
]

_UNIT = (
    "What one sample is: 'records' (default): one record (a night, a file) is one sample, a "
    "sequence of its rows, padded in batches with a mask; 'rows': every row is a sample and "
    "record attributes are repeated onto its rows."
)


class SklearnSource(Section):
    type: Literal["sklearn"]
    name: Literal["digits", "iris", "wine", "breast_cancer", "diabetes", "linnerud"] = Field(
        description="A data set shipped with scikit-learn (never downloaded). Keys: its "
        "feature names and 'target' (linnerud: the three target names)."
    )


class CsvSource(Section):
    type: Literal["csv"]
    path: str = Field(description="CSV file; relative paths are taken from the working directory.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Extra pandas.read_csv options (sep, decimal, ...)."
    )


class ParquetSource(Section):
    type: Literal["parquet"]
    path: str = Field(description="Parquet file; its columns are the keys.")


class ArrayFile(Section):
    """One array: an ``.npy`` file, or one array of an ``.npz`` archive."""

    path: str = Field(description="An .npy file or an .npz archive.")
    key: str | None = Field(
        default=None, description="npz: the array's name (optional when the archive has one)."
    )


class NumpySource(Section):
    """NumPy arrays. ``.npy`` files are memory-mapped: rows are read when a batch needs them,
    so an array larger than memory can be trained on."""

    type: Literal["npy", "npz"]
    path: str | None = Field(
        default=None,
        description="One .npy array (key 'x') or an .npz archive (its array names are the keys).",
    )
    x: str | ArrayFile | None = Field(
        default=None,
        description="Inputs as their own file (key 'x'): X.npy, or {path: d.npz, key: X}.",
    )
    y: str | ArrayFile | None = Field(
        default=None,
        description="Targets as their own file (key 'y', the default target): y.npy, or "
        "{path: d.npz, key: y}.",
    )
    columns: list[str] | None = Field(
        default=None,
        description="npy only: names for the columns of a 2-D array, each then also a key.",
    )

    @model_validator(mode="after")
    def _one_form(self) -> NumpySource:
        if self.path is None and self.x is None:
            raise ValueError("a numpy source takes 'path' (one file) or 'x' (and 'y') files")
        if self.path is not None and (self.x is not None or self.y is not None):
            raise ValueError("give either 'path' or 'x'/'y', not both")
        if self.y is not None and self.x is None:
            raise ValueError("'y' needs 'x' (the inputs) beside it")
        return self


class ImagesSource(Section):
    """Image files decoded with Pillow (PNG, JPEG, BMP, TIFF, WebP, ... any format it reads).

    Keys: 'image' (C, H, W) uint8 per image, 'label' (the class), 'path', and a manifest's
    other columns. Decoded once, by ``data.loader.num_workers`` processes, into a uint8
    memory-mapped array in the data cache, so folders larger than memory train.
    """

    type: Literal["images"]
    path: str = Field(
        description="Folder with one subfolder per class (its name is the label), or the "
        "folder a manifest's paths are relative to."
    )
    manifest: str | None = Field(
        default=None,
        description="CSV (or Parquet) listing the images, relative to 'path': a path column, "
        "a label column and optional others (group, id, ...), each a key.",
    )
    file_column: str = Field(default="path", description="Manifest column of image paths.")
    label_column: str = Field(default="label", description="Manifest column of labels.")
    mode: Literal["L", "RGB"] = Field(
        default="RGB", description="'L': one grey channel; 'RGB': three channels."
    )
    size: int | list[int] | None = Field(
        default=None,
        description="Size as [height, width] (or one number for a square). Default: every "
        "image must already have the size of the first.",
    )
    fit: Literal["resize", "crop", "pad"] = Field(
        default="resize",
        description="How an image of another size is made 'size': 'resize' (stretch, "
        "bilinear), 'crop' (scale the short side to fit, then center-crop), 'pad' (scale the "
        "long side to fit, then pad with zeros around the center).",
    )

    @model_validator(mode="after")
    def _check_size(self) -> ImagesSource:
        if isinstance(self.size, list) and len(self.size) != 2:
            raise ValueError(f"size takes [height, width] or one number; got {self.size}")
        sizes = self.size if isinstance(self.size, list) else [self.size or 1]
        if any(s < 1 for s in sizes):
            raise ValueError(f"size must be positive; got {self.size}")
        return self


class Hdf5Source(Section):
    type: Literal["hdf5"]
    path: str = Field(description="HDF5 file (needs h5py: pip install 'trainspec[data]').")
    records: str | None = Field(
        default=None,
        description="Group holding one subgroup per record. Each subgroup's datasets share "
        "their first axis (T rows: epochs, time steps) and are the keys; its attributes "
        "(subject, cohort, ...) are per-record keys. Without it the file is tabular: its "
        "datasets of equal first dimension are the keys.",
    )
    unit: Literal["records", "rows"] = Field(default="records", description=_UNIT)


class FolderSource(Section):
    type: Literal["folder"]
    path: str = Field(description="Folder of per-subject (per-record) files.")
    manifest: str = Field(
        description="Table (CSV or Parquet, relative to the folder) listing the files, one row "
        "each; its other columns are per-record keys (subject, age, ...)."
    )
    file_column: str = Field(default="file", description="Manifest column with the file names.")
    unit: Literal["records", "rows"] = Field(default="rows", description=_UNIT)


class DatasetSource(Section):
    """A user's ``torch.utils.data.Dataset`` class; roles name attributes of the instance."""

    type: Literal["dataset"]
    target: str = Field(description="Import path of a torch Dataset class (see allow_imports).")
    params: dict[str, Any] = Field(default_factory=dict, description="Its constructor arguments.")
    collate_fn: str | None = Field(default=None, description="Import path of a collate function.")


class ArraysSource(Section):
    """Arrays or a DataFrame handed over from Python (``train_model(X, y, config)``).

    Keys: a DataFrame's columns, a dict's names, or 'x' for an array; 'target' for y.
    """

    type: Literal["arrays"]


SourceSpec = Annotated[
    SklearnSource
    | CsvSource
    | ParquetSource
    | NumpySource
    | Hdf5Source
    | FolderSource
    | ImagesSource
    | DatasetSource
    | ArraysSource,
    Field(discriminator="type"),
]


class InputSpec(Section):
    """One model input taken from the source."""

    key: str | None = Field(default=None, description="One key (an array or a column).")
    columns: list[str] | None = Field(
        default=None, description="Several 1-D or 2-D keys, joined along the last axis."
    )
    shape: list[int] | None = Field(
        default=None,
        description="Reshape each row, e.g. [1, -1] turns an ECG epoch of S samples into "
        "(1, S): one channel.",
    )

    @model_validator(mode="after")
    def _one_of(self) -> InputSpec:
        if (self.key is None) == (self.columns is None):
            raise ValueError("an input takes exactly one of 'key' or 'columns'")
        if self.shape is not None and sum(1 for d in self.shape if d == -1) > 1:
            raise ValueError(f"shape {self.shape} has more than one -1")
        return self


class WeightSpec(Section):
    """Per-sample weights: a key, or weights that balance groups or classes."""

    key: str | None = Field(default=None, description="Key (column) holding the weights.")
    balance: Literal["group", "class"] | None = Field(
        default=None,
        description="'group': every group (subject) contributes equally: weight = 1 / its "
        "labelled rows; 'class': weight = 1 / class count. Normalised to mean 1 over the "
        "labelled rows of the whole data set.",
    )

    @model_validator(mode="after")
    def _one_of(self) -> WeightSpec:
        if (self.key is None) == (self.balance is None):
            raise ValueError("weight takes exactly one of 'key' or 'balance'")
        return self


class TransformSpec(Section):
    """One transform: ``type`` names a registered transform or an import path (a scikit-learn
    style transformer); the other keys are its parameters, checked when it is built.

    Transforms run in three stages, in this order in the list: signal transforms (window,
    resample, filter) on all data before splitting; fitted ones (standardize, minmax, impute,
    one_hot, ordinal, a scikit-learn transformer) fitted on the training split only; and
    training-time augmentations (gaussian_noise, sign_flip, random_crop; for images
    horizontal_flip, vertical_flip, random_rotation, random_resized_crop, color_jitter,
    normalize), whose deterministic counterpart (a center crop, normalisation) runs at
    evaluation.
    """

    model_config = Section.model_config | {"extra": "allow"}
    type: str
    inputs: list[str] | None = Field(
        default=None, description="Inputs it applies to; default: every input."
    )


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
    ] = Field(
        default="stratified",
        description="Default: 'group' when data.group is set, else 'stratified'. "
        "'stratified' falls back to 'holdout' without one class label per sample.",
    )
    ratios: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.8, "val": 0.2},
        description="Split name -> fraction; must sum to 1 and include 'train'. For k-fold "
        "methods only a 'test' entry matters: that fraction is held out first, the same in "
        "every fold, and the rest is cut into train/val folds.",
    )
    folds: int | None = Field(default=None, ge=2, description="Number of folds for k-fold.")
    fold: int | None = Field(default=None, ge=0, description="Run one fold only.")
    column: str | None = Field(
        default=None,
        description="predefined: key holding each sample's split name; time: key to order by "
        "(default: source order).",
    )
    file: str | None = Field(
        default=None,
        description="predefined: JSON index file, {split: [indices]} or a list of those (folds).",
    )
    seed: int | None = Field(default=None, description="Default: the job's seed.")

    @model_validator(mode="after")
    def _check(self) -> SplitSpec:
        total = sum(self.ratios.values())
        if self.ratios and abs(total - 1.0) > 1e-6:
            raise ValueError(f"split ratios must sum to 1; they sum to {total:g}")
        if any(r <= 0 for r in self.ratios.values()):
            raise ValueError("every split ratio must be greater than 0")
        kfold = self.method in ("kfold", "stratified_kfold", "group_kfold")
        if not kfold and self.method != "predefined" and "train" not in self.ratios:
            raise ValueError(f"split ratios need a 'train' entry; got {sorted(self.ratios)}")
        if kfold and self.folds is None:
            raise ValueError(f"method {self.method!r} needs 'folds' (2 or more)")
        if self.method == "predefined" and (self.column is None) == (self.file is None):
            raise ValueError("method 'predefined' takes exactly one of 'column' or 'file'")
        if self.fold is not None and self.folds is not None and self.fold >= self.folds:
            raise ValueError(f"fold {self.fold} does not exist: there are {self.folds} folds")
        return self


class LoaderSpec(Section):
    num_workers: int = Field(default=0, ge=0, description="DataLoader workers (Dataset sources).")
    pin_memory: bool = False


class DataSpec(Section):
    source: SourceSpec
    features: list[str] | str | None = Field(
        default=None,
        description="Keys of the single input 'x'; default: every key that has no other role.",
    )
    inputs: dict[str, InputSpec | list[str] | str] | None = Field(
        default=None,
        description="Several named inputs: name -> key, list of keys (columns), or "
        "{key, shape} / {columns}. Replaces 'features'.",
    )
    target: str | None = Field(
        default=None, description="Target key: per row, or per record for record samples."
    )
    group: str | None = Field(default=None, description="Group key, e.g. subject id.")
    weight: str | WeightSpec | None = Field(
        default=None, description="Weight key, or {balance: group | class}."
    )
    id: str | None = Field(default=None, description="Sample id key, kept in splits.json.")
    ignore_labels: list[int | str] = Field(
        default_factory=list,
        description="Target values meaning 'unlabelled' (e.g. unscored epochs): ignored by the "
        "loss (label -100) and left out of class counts.",
    )
    transforms: list[TransformSpec] = Field(default_factory=list)
    split: SplitSpec = Field(default_factory=SplitSpec)
    loader: LoaderSpec = Field(default_factory=LoaderSpec)
    cache: bool = Field(default=True, description="Cache preprocessed arrays by fingerprint.")
    on_bad: Literal["error", "skip"] = Field(
        default="error",
        description="A file that cannot be read (a corrupt image, a file of the wrong kind): "
        "'error' stops with its name; 'skip' leaves it out and lists it in the run "
        "directory's bad_files.json.",
    )

    @model_validator(mode="after")
    def _check(self) -> DataSpec:
        if self.inputs is not None and self.features is not None:
            raise ValueError("give either 'features' (one input) or 'inputs', not both")
        if self.inputs is not None and not self.inputs:
            raise ValueError("'inputs' is empty; name at least one input")
        reserved = {"target", "weight", "mask", "index"}
        for name in self.inputs or {}:
            if name in reserved:
                raise ValueError(f"input name {name!r} is reserved for batches; rename it")
        return self
