"""The ``edf`` source: a folder of EDF / EDF+ nights, each cut into epochs and scored.

One record per signal file. Headers and hypnograms are read when the source loads (small);
a channel's samples are read file by file when its key is first used, so one night's signal
is in memory at a time besides the epochs already gathered.
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainspec.data._batch import IGNORE_INDEX
from trainspec.data._edf_read import Header, epoch_stages, read_channel, read_header, read_stages
from trainspec.data._files import hash_file, resolve_path
from trainspec.data._imagefiles import BadFile
from trainspec.data._images import bad_files_error
from trainspec.data._sources import SourceContext, records_table
from trainspec.data._table import KeyTable
from trainspec.errors import DataError
from trainspec.registry import registry

__all__ = ["EdfLoader", "iter_edf_records", "single_recording"]

log = logging.getLogger(__name__)


def _files(folder: Path, pattern: str) -> list[Path]:
    found = glob.glob(os.path.join(str(folder), pattern), recursive=True)
    return sorted(Path(p) for p in found if os.path.isfile(p))


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A file-name regex for a glob whose first ``*`` is captured: the record id."""
    name = Path(pattern).name
    out, captured = "", False
    for ch in name:
        if ch == "*":
            out += ".*" if captured else "(.*)"
            captured = True
        elif ch == "?":
            out += "."
        else:
            out += re.escape(ch)
    return re.compile(out if captured else f"({out})")


def _id_of(name: str, regex: re.Pattern[str], key: str, what: str) -> str:
    match = regex.search(name)
    if match is None or not match.groups():
        raise DataError(
            f"edf source: file name {name!r} does not match source.{key} {regex.pattern!r}; "
            f"it needs a group capturing the {what} id"
        )
    named = match.groupdict().get(what)
    if named is None:  # the first group that took part (alternatives each have their own)
        named = next((g for g in match.groups() if g is not None), "")
    return str(named)


def single_recording(spec: Any, path: Path) -> Any:
    """The edf source spec narrowed to one signal file; its record id is found as before."""
    record = spec.record
    if record is None:
        globs = [spec.signals, *([spec.hypnograms] if spec.hypnograms else [])]
        record = "|".join(f"^(?:{_glob_regex(g).pattern})$" for g in globs)
    update = {"path": str(path.parent), "signals": glob.escape(path.name), "record": record}
    return spec.model_copy(update=update)


@dataclass
class _Night:
    record: str
    subject: str
    header: Header
    channels: dict[str, int]
    n_epochs: int
    stages: np.ndarray | None


class _Reader:
    """Everything one load needs: the spec, the context, and the bad files found so far."""

    def __init__(self, spec: Any, ctx: SourceContext) -> None:
        self.spec = spec
        self.ctx = ctx
        self.bad: list[BadFile] = []
        self.folder = resolve_path(spec.path, "edf source (source.path)")
        self.record_re = re.compile(spec.record) if spec.record else None

    def record_id(self, path: Path, pattern: str, key: str) -> str:
        regex = self.record_re or _glob_regex(pattern)
        return _id_of(path.name, regex, "record" if self.record_re else key, "record")

    def signal_files(self) -> dict[str, Path]:
        files = _files(self.folder, self.spec.signals)
        if self.spec.hypnograms:
            files = [f for f in files if f not in set(_files(self.folder, self.spec.hypnograms))]
        if not files:
            listing = sorted(p.name for p in self.folder.iterdir())[:20]
            raise DataError(
                f"edf source: no file in {str(self.folder)!r} matches source.signals "
                f"{self.spec.signals!r}; it holds: {', '.join(listing) or 'nothing'}"
            )
        return self._by_record(files, self.spec.signals, "signals")

    def hypnogram_files(self) -> dict[str, Path]:
        if not self.spec.hypnograms:
            return {}
        files = _files(self.folder, self.spec.hypnograms)
        return self._by_record(files, self.spec.hypnograms, "hypnograms")

    def _by_record(self, files: list[Path], pattern: str, key: str) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for f in files:
            record = self.record_id(f, pattern, key)
            if record in out:
                raise DataError(
                    f"edf source: {out[record].name!r} and {f.name!r} both give record id "
                    f"{record!r} (source.{key}); make source.record tell them apart"
                )
            out[record] = f
        return out

    def night(self, record: str, path: Path, hypnogram: Path | None) -> _Night:
        spec = self.spec
        header = read_header(path)
        channels = {}
        for key, labels in spec.channels.items():
            wanted = [labels] if isinstance(labels, str) else list(labels)
            channels[key] = header.channel(key, wanted)
        n_epochs = int(header.seconds // spec.epoch_seconds)
        if n_epochs == 0:
            raise DataError(
                f"EDF file {str(path)!r} lasts {header.seconds:g} s, shorter than one epoch "
                f"({spec.epoch_seconds:g} s, source.epoch_seconds)"
            )
        for key, i in channels.items():
            per_epoch = (spec.rate or header.rates[i]) * spec.epoch_seconds
            if abs(per_epoch - round(per_epoch)) > 1e-6:
                raise DataError(
                    f"EDF file {str(path)!r}: channel {key!r} at {header.rates[i]:g} Hz gives "
                    f"{per_epoch:g} samples per epoch; set source.rate to a rate that divides "
                    "an epoch evenly"
                )
        subject = record
        if spec.subject:
            subject = _id_of(path.name, re.compile(spec.subject), "subject", "subject")
        stages = None if hypnogram is None else self.stages(header, hypnogram, n_epochs)
        return _Night(record, subject, header, channels, n_epochs, stages)

    def stages(self, header: Header, path: Path, n_epochs: int) -> np.ndarray:
        spec = self.spec
        events = read_stages(path, header.start)
        codes, covered = epoch_stages(
            events, spec.label_map, spec.stages, n_epochs, spec.epoch_seconds
        )
        if spec.uncovered == "error" and not covered.all():
            gaps = np.flatnonzero(~covered)
            first, last = gaps[0] * spec.epoch_seconds, (gaps[-1] + 1) * spec.epoch_seconds
            raise DataError(
                f"hypnogram {str(path)!r} does not cover its recording {header.path.name!r} "
                f"({header.seconds:g} s, {n_epochs} epochs): {len(gaps)} epochs between "
                f"{first:g} s and {last:g} s have no stage. Check that the files belong "
                "together, or set source.uncovered: ignore to leave those epochs unscored"
            )
        return codes

    def nights(self) -> list[_Night]:
        signals = self.signal_files()
        hypnograms = self.hypnogram_files()
        out = []
        for record, path in sorted(signals.items()):
            hypnogram = hypnograms.get(record)
            try:
                if hypnograms and hypnogram is None:
                    raise DataError(
                        f"EDF file {str(path)!r} (record {record!r}) has no hypnogram matching "
                        f"source.hypnograms {self.spec.hypnograms!r}"
                    )
                out.append(self.night(record, path, hypnogram))
            except DataError as exc:
                self.bad.append(BadFile(str(path), str(exc)))
        where = f"edf source {str(self.folder)!r}"
        if self.bad and self.ctx.on_bad != "skip":
            raise bad_files_error(self.bad, where)
        if self.bad:
            log.warning(
                "%s: left out %d unusable night(s) (data.on_bad: skip)", where, len(self.bad)
            )
        if not out:
            raise DataError(f"{where}: every recording was left out (data.on_bad: skip)")
        return out


def _attrs(spec: Any, reader: _Reader, nights: list[_Night]) -> dict[str, np.ndarray]:
    """Record keys, one value per night: the subject, and the covariates' columns."""
    attrs = {"subject": np.asarray([n.subject for n in nights], dtype=str)}
    if spec.covariates is not None:
        attrs.update(_covariates(spec, reader.folder, nights))
    return attrs


def iter_edf_records(spec: Any, ctx: SourceContext) -> Iterator[KeyTable]:
    """The edf source night by night: one key table per recording, its signals read when
    that table is used, so memory holds one night's signals (headers, stages and covariates
    of every night are read first: unusable files are found, and named, before any)."""
    reader = _Reader(spec, ctx)
    nights = reader.nights()
    attrs = _attrs(spec, reader, nights)
    loader = EdfLoader()
    for i, night in enumerate(nights):
        one = {k: v[i : i + 1] for k, v in attrs.items()}
        yield loader.table(spec, reader, [night], one)


def covariates_path(spec: Any, folder: Path) -> Path:
    """The side table; a relative path is taken from the recordings' folder."""
    path = Path(spec.covariates.path).expanduser()
    path = path if path.is_absolute() else folder / path
    return resolve_path(str(path), "edf source covariates (source.covariates.path)")


def _covariates(spec: Any, folder: Path, nights: list[_Night]) -> dict[str, np.ndarray]:
    import pandas as pd

    cov = spec.covariates
    path = covariates_path(spec, folder)
    try:
        table = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"covariates file {str(path)!r} cannot be read: {exc}") from exc
    column = cov.column or cov.by
    reserved = {column, "record", "subject"}
    wanted = cov.columns or [c for c in table.columns if c not in reserved]
    missing = [c for c in [column, *wanted] if c not in table.columns]
    if missing:
        raise DataError(
            f"covariates file {str(path)!r} has no column(s) {missing} "
            f"(source.covariates); its columns: {', '.join(map(str, table.columns))}"
        )
    table[column] = table[column].astype(str)
    if table[column].duplicated().any():
        dup = table[column][table[column].duplicated()].iloc[0]
        raise DataError(f"covariates file {str(path)!r}: id {dup!r} appears more than once")
    ids = [n.record if cov.by == "record" else n.subject for n in nights]
    indexed = table.set_index(column)
    absent = sorted(set(ids) - set(indexed.index))
    if absent:
        raise DataError(
            f"covariates file {str(path)!r} has no row for {cov.by} {', '.join(absent[:5])}"
            f"{' ...' if len(absent) > 5 else ''} (column {column!r})"
        )
    rows = indexed.loc[ids]
    out = {}
    for c in wanted:
        values = rows[c].to_numpy()
        out[str(c)] = values.astype(str) if values.dtype.kind == "O" else values
    return out


@registry.register("source", "edf")
class EdfLoader:
    def load(self, spec: Any, ctx: SourceContext) -> KeyTable:
        reader = _Reader(spec, ctx)
        nights = reader.nights()
        attrs = _attrs(spec, reader, nights)
        return self.table(spec, reader, nights, attrs)

    def table(
        self, spec: Any, reader: _Reader, nights: list[_Night], attrs: dict[str, np.ndarray]
    ) -> KeyTable:
        """The key table of ``nights`` (their signals read on first use); ``attrs`` holds one
        value per night of each record key (subject, covariates)."""
        lengths = np.asarray([n.n_epochs for n in nights], dtype=np.int64)
        per_key: dict[str, list[np.ndarray]] = {
            "epoch": [np.arange(n.n_epochs) for n in nights],
            "time_of_night": [
                (np.arange(n.n_epochs) / max(1, n.n_epochs - 1)).astype(np.float32) for n in nights
            ],
        }
        labelled = all(n.stages is not None for n in nights)
        if labelled:
            per_key["stage"] = [n.stages for n in nights if n.stages is not None]
        read = self._reader(spec, nights, per_key)
        meta: dict[str, Any] = {
            "epoch_seconds": spec.epoch_seconds,
            "stage_names": list(spec.stages),
            "ignore_labels": [IGNORE_INDEX],
            "bad_files": [{"file": b.file, "problem": b.problem} for b in reader.bad],
        }
        if spec.rate is not None:
            meta["fs"] = spec.rate
        if labelled:
            meta["default_target"] = "stage"
        where = f"EDF recordings in {str(reader.folder)!r}"
        if not labelled:
            where += " (unscored: no hypnogram matched source.hypnograms)"
        keys = [*spec.channels, *per_key]
        names = [n.record for n in nights]
        return records_table(where, names, lengths, read, keys, attrs, spec.unit, meta)

    def _reader(
        self, spec: Any, nights: list[_Night], per_key: dict[str, list[np.ndarray]]
    ) -> Callable[[str], list[np.ndarray]]:
        def read(key: str) -> list[np.ndarray]:
            if key in per_key:
                return per_key[key]
            out = []
            for n in nights:
                i = n.channels[key]
                per_epoch = round((spec.rate or n.header.rates[i]) * spec.epoch_seconds)
                values = read_channel(n.header, i, spec.rate, n.n_epochs * per_epoch)
                out.append(values.reshape(n.n_epochs, per_epoch))  # (T, S)
            widths = {a.shape[1] for a in out}
            if len(widths) > 1:
                raise DataError(
                    f"edf source: channel {key!r} has {sorted(widths)} samples per epoch in "
                    "different files (different rates); set source.rate to resample them"
                )
            return out

        return read

    def content(self, spec: Any, ctx: SourceContext, digest: Any) -> None:
        reader = _Reader(spec, ctx)
        for record, path in sorted(reader.signal_files().items()):
            digest.update(record.encode())
            hash_file(path, digest)
        for record, path in sorted(reader.hypnogram_files().items()):
            digest.update(record.encode())
            hash_file(path, digest)
        if spec.covariates is not None:
            hash_file(covariates_path(spec, reader.folder), digest)
