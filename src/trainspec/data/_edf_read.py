"""Reading one EDF / EDF+ night: channel headers, a channel's samples, stage annotations.

pyedflib (a C reader with only NumPy beside it) reads the files; MNE reads them too but pulls
in a plotting and analysis stack several times larger for the same few calls. NSRR's XML
annotations (SHHS, MESA) are read with the standard library.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from trainspec.data._batch import IGNORE_INDEX
from trainspec.errors import DataError

__all__ = ["Header", "StageEvents", "epoch_stages", "read_channel", "read_header", "read_stages"]


def _pyedflib() -> Any:
    try:
        import pyedflib
    except ImportError as exc:
        raise DataError("the edf source needs pyedflib: pip install 'trainspec[edf]'") from exc
    return pyedflib


def _open(path: Path) -> Any:
    pyedflib = _pyedflib()
    try:
        return pyedflib.EdfReader(str(path))
    except OSError as exc:
        raise DataError(
            f"EDF file {str(path)!r} cannot be read ({exc}); is it an EDF/EDF+ file, "
            "complete and not truncated?"
        ) from exc


@dataclass(frozen=True)
class Header:
    """What a signal file's header says: its channels, their rates, its length and start."""

    path: Path
    labels: list[str]
    rates: list[float]
    seconds: float
    start: dt.datetime | None

    def channel(self, key: str, wanted: list[str]) -> int:
        """The index of the first of ``wanted`` labels present (compared without case)."""
        found = {label.strip().lower(): i for i, label in enumerate(self.labels)}
        for label in wanted:
            if label.strip().lower() in found:
                return found[label.strip().lower()]
        raise DataError(
            f"EDF file {str(self.path)!r} has no channel {' or '.join(map(repr, wanted))} "
            f"(source.channels.{key}); its channels: {', '.join(self.labels) or 'none'}"
        )


def read_header(path: Path) -> Header:
    reader = _open(path)
    try:
        n = int(reader.signals_in_file)
        labels = [str(s) for s in reader.getSignalLabels()]
        rates = [float(reader.getSampleFrequency(i)) for i in range(n)]
        seconds = float(reader.getFileDuration())
        try:
            start: dt.datetime | None = reader.getStartdatetime()
        except (ValueError, OSError):
            start = None
    finally:
        reader.close()
    return Header(path, labels, rates, seconds, start)


def read_channel(header: Header, index: int, rate: float | None, n_samples: int) -> np.ndarray:
    """Physical values of one channel, resampled to ``rate``, cut to ``n_samples``: (n,)."""
    reader = _open(header.path)
    try:
        # The stored integers, scaled here in float32: half the memory traffic of float64.
        digital = reader.readSignal(index, digital=True)
        d_min, d_max = reader.getDigitalMinimum(index), reader.getDigitalMaximum(index)
        p_min, p_max = reader.getPhysicalMinimum(index), reader.getPhysicalMaximum(index)
    finally:
        reader.close()
    gain = (p_max - p_min) / (d_max - d_min)
    values = digital.astype(np.float32)
    values *= np.float32(gain)
    values += np.float32(p_min - gain * d_min)
    native = header.rates[index]
    if rate is not None and abs(native - rate) > 1e-9:
        from scipy.signal import resample_poly

        ratio = Fraction(rate / native).limit_denominator(1000)
        values = resample_poly(values, ratio.numerator, ratio.denominator).astype(np.float32)
    if len(values) < n_samples:
        raise DataError(
            f"EDF file {str(header.path)!r}: channel {header.labels[index]!r} holds "
            f"{len(values)} samples, fewer than the {n_samples} its epochs need"
        )
    return np.asarray(values[:n_samples])


@dataclass(frozen=True)
class StageEvents:
    """Annotations of one hypnogram: onset and duration in seconds from the recording start."""

    path: Path
    onsets: np.ndarray
    durations: np.ndarray
    descriptions: list[str]


def _edf_annotations(path: Path, signal_start: dt.datetime | None) -> StageEvents:
    reader = _open(path)
    try:
        onsets, durations, texts = reader.readAnnotations()
        try:
            start: dt.datetime | None = reader.getStartdatetime()
        except (ValueError, OSError):
            start = None
    finally:
        reader.close()
    shift = 0.0
    if start is not None and signal_start is not None:
        shift = (start - signal_start).total_seconds()  # a hypnogram may start later
    return StageEvents(
        path,
        np.asarray(onsets, dtype=np.float64) + shift,
        np.asarray(durations, dtype=np.float64),
        [str(t).strip() for t in texts],
    )


def _xml_annotations(path: Path) -> StageEvents:
    """NSRR XML: ``<ScoredEvent>`` with ``EventConcept``, ``Start`` and ``Duration``."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise DataError(f"annotation file {str(path)!r} is not well-formed XML: {exc}") from exc
    onsets, durations, texts = [], [], []
    for event in root.iter("ScoredEvent"):
        concept = event.findtext("EventConcept")
        start, length = event.findtext("Start"), event.findtext("Duration")
        if concept is None or start is None or length is None:
            continue
        try:
            onsets.append(float(start))
            durations.append(float(length))
        except ValueError as exc:
            raise DataError(
                f"annotation file {str(path)!r}: event {concept!r} has Start {start!r} and "
                f"Duration {length!r}; both must be seconds"
            ) from exc
        texts.append(concept.strip())
    if root.tag != "PSGAnnotation" and not texts:
        raise DataError(
            f"annotation file {str(path)!r} is XML but not NSRR annotations (root <{root.tag}>, "
            "no <ScoredEvent>); export the hypnogram as NSRR XML or EDF+"
        )
    return StageEvents(path, np.asarray(onsets), np.asarray(durations), texts)


def read_stages(path: Path, signal_start: dt.datetime | None) -> StageEvents:
    if path.suffix.lower() == ".xml":
        return _xml_annotations(path)
    if path.suffix.lower() not in (".edf", ".rec"):
        raise DataError(
            f"annotation file {str(path)!r} is neither EDF+ (.edf) nor NSRR XML (.xml); "
            "change source.hypnograms to match only annotation files"
        )
    return _edf_annotations(path, signal_start)


def epoch_stages(
    events: StageEvents,
    label_map: dict[str, str | None],
    stages: list[str],
    n_epochs: int,
    epoch_seconds: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(codes, covered), both (n_epochs,). An epoch takes the stage at its midpoint; codes are
    -100 where unscored; ``covered`` is False where no stage annotation reaches."""
    codes = np.full(n_epochs, IGNORE_INDEX, dtype=np.int64)
    covered = np.zeros(n_epochs, dtype=bool)
    index = {name: i for i, name in enumerate(stages)}
    mapped = 0
    for onset, length, text in zip(
        events.onsets, events.durations, events.descriptions, strict=True
    ):
        if text not in label_map:
            continue
        mapped += 1
        first = max(0, int(np.ceil(onset / epoch_seconds - 0.5)))
        stop = min(n_epochs, int(np.ceil((onset + length) / epoch_seconds - 0.5)))
        if stop <= first:
            continue
        label = label_map[text]
        codes[first:stop] = IGNORE_INDEX if label is None else index[label]
        covered[first:stop] = True
    if mapped == 0:
        seen = sorted(set(events.descriptions))
        shown = ", ".join(map(repr, seen[:20])) + (" ..." if len(seen) > 20 else "")
        raise DataError(
            f"hypnogram {str(events.path)!r} has no annotation that source.label_map names; "
            f"its descriptions: {shown or 'none'}. Map them in source.label_map"
        )
    return codes, covered
