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
    "EdfCovariates",
    "EdfSource",
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

TargetStep = Literal["standardize", "log1p", "minmax"]
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


# Descriptions of stage annotations in PhysioNet's Sleep-EDF (R&K: stages 3 and 4 are N3),
# in NSRR's XML (SHHS, MESA: "concept|code"), and in AASM-style EDF+ files. None: ignored.
DEFAULT_STAGE_MAP: dict[str, str | None] = {
    "Sleep stage W": "W",
    "Sleep stage 1": "N1",
    "Sleep stage 2": "N2",
    "Sleep stage 3": "N3",
    "Sleep stage 4": "N3",
    "Sleep stage R": "REM",
    "Sleep stage N1": "N1",
    "Sleep stage N2": "N2",
    "Sleep stage N3": "N3",
    "Sleep stage ?": None,
    "Movement time": None,
    "Wake|0": "W",
    "Stage 1 sleep|1": "N1",
    "Stage 2 sleep|2": "N2",
    "Stage 3 sleep|3": "N3",
    "Stage 4 sleep|4": "N3",
    "REM sleep|5": "REM",
    "Movement|6": None,
    "Unscored|9": None,
}
_EDF_KEYS = ("stage", "epoch", "time_of_night", "record", "subject")


class EdfCovariates(Section):
    """Per-night (or per-subject) values from a side table, joined onto the records."""

    path: str = Field(
        description="CSV file; a relative path is taken from the recordings' folder "
        "(source.path), so a folder and its table travel together."
    )
    by: Literal["record", "subject"] = Field(
        default="record", description="Join on the record id (one row per night) or the subject."
    )
    column: str | None = Field(
        default=None,
        description="CSV column holding the record or subject id; default: the 'by' name. "
        "Ids are compared as text.",
    )
    columns: list[str] | None = Field(
        default=None,
        description="Columns to keep (each becomes a record key); default: all but the id "
        "column and any named 'record' or 'subject'.",
    )

    @model_validator(mode="after")
    def _check(self) -> EdfCovariates:
        reserved = sorted(set(self.columns or ()) & {"record", "subject"})
        if reserved:
            raise ValueError(f"covariate column(s) {reserved} would replace the source's own key")
        return self


class EdfSource(Section):
    """A folder of EDF / EDF+ recordings, one record per night, cut into scored epochs.

    Keys per epoch: every channel of ``channels`` (T, rate * epoch_seconds), 'stage' (the
    class code, -100 where unscored), 'epoch' (0..T-1) and 'time_of_night' (0..1). Keys per
    record: 'record', 'subject' and the covariates' columns. Needs pyedflib:
    pip install 'trainspec[edf]'.
    """

    type: Literal["edf"]
    path: str = Field(description="Folder holding the recordings.")
    signals: str = Field(
        default="*.edf",
        description="Glob, relative to path, of the signal files (one per night).",
    )
    hypnograms: str | None = Field(
        default=None,
        description="Glob, relative to path, of the annotation files: EDF+ annotations "
        "(Sleep-EDF '*-Hypnogram.edf') or NSRR XML ('*-nsrr.xml'). Unset: unscored recordings "
        "(no 'stage' key), e.g. for prediction.",
    )
    record: str | None = Field(
        default=None,
        description="Regular expression on a file name whose group 'record' (or first group) "
        "is the record id that pairs a signal file with its hypnogram, e.g. '^(SC4\\d{3})' for "
        "Sleep-EDF. Default: the part of the name the glob's first '*' matched.",
    )
    subject: str | None = Field(
        default=None,
        description="Regular expression on the signal file name whose group 'subject' (or "
        "first group) is the subject id, e.g. '^SC4(\\d{2})'. Default: the record id.",
    )
    channels: dict[str, str | list[str]] = Field(
        description="Key -> EDF channel label, or a list of labels of which the first present "
        "is read (e.g. {ecg: [ECG, EKG, ECG1]}).",
    )
    rate: float | None = Field(
        default=None,
        gt=0,
        description="Hz every channel is resampled to (polyphase, scipy); default: each "
        "channel keeps its own rate, which must then be the same in every file.",
    )
    epoch_seconds: float = Field(default=30.0, gt=0, description="Length of one epoch.")
    stages: list[str] = Field(
        default_factory=lambda: ["W", "N1", "N2", "N3", "REM"],
        min_length=1,
        description="Class names, in code order (stage codes 0..K-1).",
    )
    label_map: dict[str, str | None] = Field(
        default_factory=lambda: dict(DEFAULT_STAGE_MAP),
        description="Annotation description -> stage name; null: ignored (unscored, movement). "
        "Annotations with other descriptions (arousals, lights off) are not stages. Default: "
        "Sleep-EDF, NSRR (SHHS, MESA) and AASM descriptions.",
    )
    uncovered: Literal["error", "ignore"] = Field(
        default="error",
        description="Epochs no stage annotation covers: 'error' names the file; 'ignore' "
        "leaves them unscored.",
    )
    covariates: EdfCovariates | None = Field(default=None, description="Per-night side table.")
    unit: Literal["records", "rows"] = Field(default="records", description=_UNIT)

    @model_validator(mode="after")
    def _check(self) -> EdfSource:
        unknown = sorted({v for v in self.label_map.values() if v is not None} - set(self.stages))
        if unknown:
            raise ValueError(
                f"label_map maps to {unknown}, which are not in stages {self.stages}; add them "
                "to stages or fix the label_map"
            )
        clash = sorted(set(self.channels) & set(_EDF_KEYS))
        if clash:
            raise ValueError(f"channel key(s) {clash} are reserved for the source; rename them")
        per_epoch = None if self.rate is None else self.rate * self.epoch_seconds
        if per_epoch is not None and abs(per_epoch - round(per_epoch)) > 1e-6:
            raise ValueError(
                f"rate {self.rate:g} Hz x epoch_seconds {self.epoch_seconds:g} is not a whole "
                "number of samples per epoch"
            )
        if not self.channels:
            raise ValueError("channels is empty; name at least one, e.g. {ecg: ECG}")
        return self


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
    | EdfSource
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
    target_transform: TargetStep | list[TargetStep] | None = Field(
        default=None,
        description="Regression only: rescale the target for training, fitted on the training "
        "split: 'standardize' ((y - mean) / std), 'log1p' (log(1 + y), for skewed positive "
        "targets), 'minmax', or a list applied in order ([log1p, standardize]). Predictions "
        "are inverted before metrics and in every prediction written.",
    )
    on_bad: Literal["error", "skip"] = Field(
        default="error",
        description="A file that cannot be used (a corrupt image, an unreadable EDF, a "
        "hypnogram that does not cover its recording, a file of the wrong kind): 'error' "
        "stops with its name; 'skip' leaves it out and lists it in the run directory's "
        "bad_files.json.",
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
