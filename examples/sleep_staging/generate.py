"""Generate the SYNTHETIC single-lead ECG data set of the sleep-staging example.

Nothing here is a real recording. The generator draws, for every simulated night:

- a hypnogram of 30-second epochs (0 W, 1 N1, 2 N2, 3 N3, 4 REM) from a seeded Markov chain
  whose transitions depend on the time of night: a sleep-onset latency, sleep cycles compressed
  to the night's length, deep sleep (N3) mostly in the early cycles and REM in the late ones,
  and brief awakenings that grow more frequent towards morning;
- a heart-rate signal that depends on the stage (wake highest, N3 lowest, REM variable), with
  low-frequency (Mayer-wave-like) fluctuations, respiratory sinus arrhythmia (strongest in N3),
  beat-to-beat jitter, and smooth changes across epoch boundaries; heart-rate variability falls
  with age;
- beat times integrated from that heart rate and a PQRST template built from Gaussian waves
  (ECGSYN-like), its amplitude modulated by breathing, plus baseline wander, Gaussian noise and
  EMG-like bursts (most frequent in wake).

Two cohorts differ on purpose, so that adapting a model from one to the other is needed:
cohort A (ages 20-45) has a high-gain, clean recording; cohort B (ages 55-80) has a lower gain,
more noise and baseline wander, a lower heart rate, less heart-rate variability, less N3 and
more wake.

Written as real sleep recordings come with ``--format edf``: one folder per cohort
holding, per night, an EDF+ signal file ``<night>-PSG.edf`` (one channel, ``ECG``, in mV) and a
hypnogram ``<night>-Hypnogram.edf`` (EDF+ annotations in PhysioNet Sleep-EDF's words: "Sleep
stage W", "Sleep stage 1", ... "Sleep stage R", one per run of equal stages), plus
``covariates.csv`` (record, subject, cohort, age, sex), read by the ``edf`` source of the job
specs (see docs/sleep_staging.md); this is the default. ``--format hdf5`` writes one HDF5 file
per cohort instead (read by ``pretrain_hdf5.yaml``): per night the ECG epochs (T, ``fs * 30``),
the features age, sex and time of night (fraction 0..1 of the recording) (T, 3) and the stage
(T,). See ``generate``.

    python examples/sleep_staging/generate.py --out data/sleep [--format edf|hdf5] [--force]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter1d

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

GENERATOR_VERSION = 1
EPOCH_SECONDS = 30
STAGE_NAMES = ("W", "N1", "N2", "N3", "REM")
FEATURE_NAMES = ("age", "sex", "time_of_night")
W, N1, N2, N3, REM = range(5)
GRID_HZ = 4.0  # the heart-rate and breathing signals live on this grid before beats are placed

# Per-stage physiology, indexed by stage (W, N1, N2, N3, REM).
HR_DELTA = np.array([8.0, 3.0, 0.0, -4.0, 4.0])  # bpm above the subject's resting rate
RSA_DEPTH = np.array([0.025, 0.035, 0.05, 0.075, 0.02])  # fraction of HR, at breathing rate
LF_DEPTH = np.array([0.045, 0.03, 0.02, 0.01, 0.05])  # fraction of HR, 0.04-0.15 Hz
JITTER = np.array([0.02, 0.015, 0.011, 0.007, 0.022])  # beat-to-beat RR noise, fraction
RESP_RATE = np.array([0.28, 0.25, 0.24, 0.22, 0.27])  # Hz
RESP_IRREGULAR = np.array([0.2, 0.1, 0.06, 0.03, 0.2])  # relative breathing-rate wobble
RESP_AM = np.array([0.05, 0.07, 0.08, 0.1, 0.05])  # ECG amplitude modulation by breathing
EMG_RATE = np.array([0.6, 0.25, 0.06, 0.03, 0.12])  # EMG-like bursts per epoch
STAGE_PERSISTENCE = np.array([0.6, 0.5, 0.8, 0.85, 0.88])  # chance to stay one more epoch

# PQRST template: (offset from R in s at RR = 1 s, amplitude in mV, width in s).
WAVES = np.array(
    [
        [-0.17, 0.12, 0.025],  # P
        [-0.035, -0.12, 0.014],  # Q
        [0.0, 1.0, 0.016],  # R
        [0.04, -0.25, 0.016],  # S
        [0.27, 0.3, 0.05],  # T
    ]
)


@dataclass(frozen=True)
class Cohort:
    """What sets one cohort's recordings apart from the other's."""

    name: str
    age_range: tuple[float, float]
    hr_offset: float  # bpm added to every subject's resting rate
    gain: tuple[float, float]  # mean and spread of the per-subject amplifier gain
    noise_sd: float  # mV of white noise
    emg_amp: float  # mV of EMG-like bursts
    wander_amp: float  # mV of baseline wander
    onset_epochs: tuple[int, int]  # range of the sleep-onset latency
    n3_scale: float  # how much deep sleep, relative to cohort A
    wake_scale: float  # how often brief awakenings happen, relative to cohort A


COHORTS = {
    "A": Cohort("A", (20.0, 45.0), 0.0, (1.0, 0.12), 0.02, 0.08, 0.05, (2, 10), 1.0, 1.0),
    "B": Cohort("B", (55.0, 80.0), -5.0, (0.65, 0.1), 0.05, 0.15, 0.15, (4, 20), 0.55, 2.0),
}


@dataclass(frozen=True)
class Subject:
    """One simulated person; stable over all their nights."""

    name: str
    age: float
    sex: int
    rest_hr: float
    hrv_scale: float
    gain: float
    resp_offset: float
    morphology: tuple[float, ...]  # per-wave amplitude factors


@dataclass(frozen=True)
class Params:
    """Everything the output depends on; its hash decides whether files are reused."""

    seed: int = 0
    subjects_a: int = 32
    subjects_b: int = 24
    nights_per_subject: int = 1
    fs: int = 64
    min_epochs: int = 80
    max_epochs: int = 160
    version: int = GENERATOR_VERSION

    def digest(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _rng(seed: int, *keys: int) -> np.random.Generator:
    # One stream per (cohort, subject, night): adding subjects leaves the others unchanged.
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def make_subject(cohort: Cohort, index: int, rng: np.random.Generator) -> Subject:
    age = float(rng.uniform(*cohort.age_range))
    sex = int(rng.integers(0, 2))
    # Resting rate: women a little faster; HRV falls roughly exponentially with age.
    rest_hr = 60.0 + 3.0 * sex + cohort.hr_offset + rng.normal(0.0, 3.0)
    hrv_scale = float(np.exp(-(age - 20.0) / 80.0) * rng.lognormal(0.0, 0.15))
    gain = float(max(0.2, rng.normal(*cohort.gain)))
    morphology = tuple(float(m) for m in rng.lognormal(0.0, 0.15, size=len(WAVES)))
    return Subject(
        name=f"{cohort.name}-S{index:03d}",
        age=age,
        sex=sex,
        rest_hr=float(rest_hr),
        hrv_scale=hrv_scale,
        gain=gain,
        resp_offset=float(rng.normal(0.0, 0.02)),
        morphology=morphology,
    )


def _cycle_target(phase: float, cycle: int, cohort: Cohort) -> FloatArray:
    """Stage probabilities the sleeper drifts towards at this point of a sleep cycle."""
    p = np.zeros(5)
    deep = cohort.n3_scale * max(0.05, 0.85 - 0.3 * cycle)
    rem = min(0.9, 0.5 + 0.2 * cycle)
    if phase < 0.15:
        p[[N1, N2]] = 0.35, 0.65
    elif phase < 0.5:
        p[[N2, N3]] = 1.0 - deep, deep
    elif phase < 0.6:
        p[[N1, N2]] = 0.1, 0.9
    else:
        p[[N2, REM]] = 1.0 - rem, rem
    return p


def hypnogram(n_epochs: int, cohort: Cohort, rng: np.random.Generator) -> IntArray:
    """A stage per 30-s epoch from a Markov chain whose targets follow the time of night."""
    onset = int(rng.integers(cohort.onset_epochs[0], cohort.onset_epochs[1] + 1))
    onset = min(onset, n_epochs // 4)
    n_cycles = int(rng.integers(3, 5))
    cycle_len = max(1.0, (n_epochs - onset) / n_cycles)
    stages = np.full(n_epochs, W, dtype=np.int64)
    state = N1
    for i in range(onset, n_epochs):
        night = i / n_epochs
        pos = (i - onset) / cycle_len
        cycle, phase = int(pos), pos - int(pos)
        wake_p = cohort.wake_scale * (0.012 + 0.03 * night)
        target = _cycle_target(phase, cycle, cohort)
        # A stage the cycle has moved past is left quickly; a favoured one lingers.
        favoured = state == W or target[state] >= 0.5 * target.max()
        stay = STAGE_PERSISTENCE[state] if favoured else 0.4
        if state != W and rng.random() < wake_p:
            state = W
        elif rng.random() < stay:
            pass
        elif state == W:
            state = N1 if rng.random() < 0.7 else N2  # back to sleep through light sleep
        else:
            nxt = int(rng.choice(5, p=target))
            state = N2 if state == N3 and nxt == REM else nxt  # no direct N3 -> REM
        stages[i] = state
    return stages


def _per_epoch(stages: IntArray, table: FloatArray, smooth_s: float) -> FloatArray:
    """Stage-wise values on the grid, smoothed so nothing jumps at epoch boundaries."""
    per_grid = int(EPOCH_SECONDS * GRID_HZ)
    values = np.repeat(table[stages], per_grid)
    return np.asarray(gaussian_filter1d(values, smooth_s * GRID_HZ, mode="nearest"))


def _band_noise(n: int, fs: float, lo: float, hi: float, rng: np.random.Generator) -> FloatArray:
    """Unit-variance Gaussian noise limited to [lo, hi] Hz."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    spectrum[(freqs < lo) | (freqs > hi) | (freqs == 0.0)] = 0.0
    out = np.fft.irfft(spectrum, n)
    std = out.std()
    # A recording too short to hold the band gets no such component rather than amplified noise.
    return np.asarray(out / std if std > 1e-9 else np.zeros(n))


def heart_and_breath(
    stages: IntArray, subject: Subject, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Instantaneous heart rate (bpm) and breathing phase (rad) on the GRID_HZ grid."""
    n = len(stages) * int(EPOCH_SECONDS * GRID_HZ)
    irregular = _per_epoch(stages, RESP_IRREGULAR, 10.0)
    rate = _per_epoch(stages, RESP_RATE, 10.0) + subject.resp_offset
    rate = rate * (1.0 + irregular * _band_noise(n, GRID_HZ, 0.005, 0.08, rng))
    breath = 2.0 * np.pi * np.cumsum(np.clip(rate, 0.08, 0.6)) / GRID_HZ
    hrv = subject.hrv_scale
    drift = 1.5 * _band_noise(n, GRID_HZ, 0.0, 0.004, rng)  # slow drift over the night
    hr = subject.rest_hr + drift + _per_epoch(stages, HR_DELTA, 12.0)
    rsa = hrv * _per_epoch(stages, RSA_DEPTH, 10.0) * np.sin(breath)
    lf = hrv * _per_epoch(stages, LF_DEPTH, 10.0) * _band_noise(n, GRID_HZ, 0.04, 0.15, rng)
    return hr * (1.0 + rsa + lf), breath


def beat_times(
    hr: FloatArray, stages: IntArray, hrv_scale: float, rng: np.random.Generator
) -> FloatArray:
    """R-peak times (s) from integrating the heart rate, with beat-to-beat RR jitter."""
    t = np.arange(len(hr)) / GRID_HZ
    beats_so_far = np.cumsum(hr / 60.0) / GRID_HZ
    times = np.interp(np.arange(1, int(beats_so_far[-1])), beats_so_far, t)
    rr = np.diff(times, prepend=0.0)
    epoch = np.minimum((times // EPOCH_SECONDS).astype(np.int64), len(stages) - 1)
    jitter = np.sqrt(hrv_scale) * JITTER[stages[epoch]]
    rr = np.clip(rr * (1.0 + jitter * rng.standard_normal(len(rr))), 0.3, 2.0)
    times = np.cumsum(rr)
    return np.asarray(times[times < len(stages) * EPOCH_SECONDS - 0.6])


def render_ecg(
    times: FloatArray, amplitude: FloatArray, morphology: FloatArray, n: int, fs: int
) -> FloatArray:
    """Sum of Gaussian P, Q, R, S, T waves around each beat, as an (n,) signal in mV."""
    if len(times) == 0:
        return np.zeros(n)
    rr = np.diff(times, prepend=times[0] - 1.0)
    # Waves after R stretch with sqrt(RR) (a Bazett-like QT), waves before R with RR.
    stretch = np.where(WAVES[:, 0] > 0, np.sqrt(rr)[:, None], rr[:, None] ** 0.3)  # (B, 5)
    centres = times[:, None] + WAVES[:, 0] * stretch  # (B, 5)
    heights = amplitude[:, None] * WAVES[:, 1] * morphology  # (B, 5)
    start = np.floor((times - 0.4) * fs).astype(np.int64)
    idx = start[:, None] + np.arange(int(1.05 * fs))  # (B, W)
    t = idx / fs
    z = (t[:, :, None] - centres[:, None, :]) / WAVES[:, 2]  # (B, W, 5)
    values = (heights[:, None, :] * np.exp(-0.5 * z * z)).sum(axis=2)
    keep = (idx >= 0) & (idx < n)
    return np.bincount(idx[keep], weights=values[keep], minlength=n).astype(np.float64)


def _emg_bursts(stages: IntArray, fs: int, amp: float, rng: np.random.Generator) -> FloatArray:
    n_per = EPOCH_SECONDS * fs
    envelope = np.zeros(len(stages) * n_per)
    counts = rng.poisson(EMG_RATE[stages])
    for epoch in np.flatnonzero(counts):
        for _ in range(counts[epoch]):
            length = int(rng.uniform(0.5, 4.0) * fs)
            start = epoch * n_per + int(rng.integers(0, n_per))
            envelope[start : start + length] = amp * rng.uniform(0.5, 1.5)
    envelope = gaussian_filter1d(envelope, 0.1 * fs)
    return np.asarray(envelope * _band_noise(len(envelope), fs, 10.0, fs / 2, rng))


def simulate_night(
    subject: Subject, cohort: Cohort, n_epochs: int, fs: int, rng: np.random.Generator
) -> tuple[NDArray[np.float32], IntArray]:
    """One night: the ECG as (n_epochs, fs*30) float32 in mV, and the stage per epoch."""
    stages = hypnogram(n_epochs, cohort, rng)
    hr, breath = heart_and_breath(stages, subject, rng)
    times = beat_times(hr, stages, subject.hrv_scale, rng)
    n = n_epochs * EPOCH_SECONDS * fs
    grid_t = np.arange(len(breath)) / GRID_HZ
    t = np.arange(n) / fs
    resp = np.sin(np.interp(t, grid_t, breath))
    am_depth = np.interp(t, grid_t, _per_epoch(stages, RESP_AM, 10.0))
    beat_amp = subject.gain * (1.0 + np.interp(times, t, am_depth * resp))
    ecg = render_ecg(times, beat_amp, np.asarray(subject.morphology), n, fs)
    wander = cohort.wander_amp * (0.4 * resp + _band_noise(n, fs, 0.01, 0.4, rng))
    noise = cohort.noise_sd * rng.standard_normal(n)
    ecg = ecg + wander + noise + _emg_bursts(stages, fs, cohort.emg_amp, rng)
    # A 12-bit-like quantisation (2 µV steps) keeps the compressed files small.
    ecg = np.round(ecg / 0.002) * 0.002
    return ecg.reshape(n_epochs, EPOCH_SECONDS * fs).astype(np.float32), stages


@dataclass(frozen=True)
class Night:
    name: str
    subject: str
    ecg: NDArray[np.float32]
    features: NDArray[np.float32]
    stage: IntArray


def cohort_nights(cohort: Cohort, n_subjects: int, params: Params) -> Iterator[Night]:
    """Every night of a cohort, each from its own seeded random stream."""
    code = ord(cohort.name)
    for s in range(n_subjects):
        subject = make_subject(cohort, s, _rng(params.seed, code, s))
        for k in range(1, params.nights_per_subject + 1):
            rng = _rng(params.seed, code, s, k)
            n_epochs = int(rng.integers(params.min_epochs, params.max_epochs + 1))
            ecg, stages = simulate_night(subject, cohort, n_epochs, params.fs, rng)
            features = np.empty((n_epochs, len(FEATURE_NAMES)), dtype=np.float32)
            features[:, 0] = subject.age
            features[:, 1] = subject.sex
            features[:, 2] = np.arange(n_epochs) / max(1, n_epochs - 1)
            yield Night(f"{subject.name}-N{k}", subject.name, ecg, features, stages)


def _write_cohort(path: Path, cohort: Cohort, n_subjects: int, params: Params) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["fs"] = params.fs
        f.attrs["epoch_seconds"] = EPOCH_SECONDS
        f.attrs["feature_names"] = list(FEATURE_NAMES)
        f.attrs["stage_names"] = list(STAGE_NAMES)
        f.attrs["synthetic"] = True
        f.attrs["cohort"] = cohort.name
        f.attrs["params_hash"] = params.digest()
        f.attrs["params"] = json.dumps(asdict(params), sort_keys=True)
        records = f.create_group("records")
        for night in cohort_nights(cohort, n_subjects, params):
            g = records.create_group(night.name)
            chunks = (min(len(night.stage), 16), night.ecg.shape[1])
            opts: dict[str, Any] = {"compression": "gzip", "compression_opts": 1}
            g.create_dataset("ecg", data=night.ecg, chunks=chunks, shuffle=True, **opts)
            g.create_dataset("features", data=night.features, **opts)
            g.create_dataset("stage", data=night.stage, **opts)
            g.attrs["subject"] = night.subject
            g.attrs["cohort"] = cohort.name
    os.replace(tmp, path)


# Sleep-EDF's annotation text per stage (W, N1, N2, N3, REM).
STAGE_TEXT = ("Sleep stage W", "Sleep stage 1", "Sleep stage 2", "Sleep stage 3", "Sleep stage R")
ECG_RANGE_MV = 8.0  # the EDF physical range; 16 bits over +-8 mV is a 0.24 µV step
START = dt.datetime(2000, 1, 1, 22, 30)  # a fixed start time: the same parameters, the same bytes


def _stage_runs(stages: IntArray) -> list[tuple[float, float, str]]:
    """(onset s, duration s, text) for each run of equal stages, as Sleep-EDF writes them."""
    change = np.flatnonzero(np.diff(stages)) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [len(stages)]])
    return [
        (float(a * EPOCH_SECONDS), float((b - a) * EPOCH_SECONDS), STAGE_TEXT[stages[a]])
        for a, b in zip(starts, stops, strict=True)
    ]


def _write_edf_night(folder: Path, night: Night, fs: int) -> None:
    import pyedflib

    ecg = np.clip(night.ecg.reshape(-1).astype(np.float64), -ECG_RANGE_MV, ECG_RANGE_MV)
    signal = pyedflib.EdfWriter(
        str(folder / f"{night.name}-PSG.edf"), 1, file_type=pyedflib.FILETYPE_EDFPLUS
    )
    try:
        signal.setStartdatetime(START)
        signal.setPatientCode(night.subject)
        signal.setSignalHeader(
            0,
            {
                "label": "ECG",
                "dimension": "mV",
                "sample_frequency": fs,
                "physical_max": ECG_RANGE_MV,
                "physical_min": -ECG_RANGE_MV,
                "digital_max": 32767,
                "digital_min": -32768,
                "transducer": "synthetic",
                "prefilter": "",
            },
        )
        signal.writeSamples([ecg])
    finally:
        signal.close()
    hypnogram = pyedflib.EdfWriter(
        str(folder / f"{night.name}-Hypnogram.edf"), 0, file_type=pyedflib.FILETYPE_EDFPLUS
    )
    try:
        hypnogram.setStartdatetime(START)
        hypnogram.setPatientCode(night.subject)
        for onset, duration, text in _stage_runs(night.stage):
            hypnogram.writeAnnotation(onset, duration, text)
    finally:
        hypnogram.close()


def _write_edf_cohort(folder: Path, cohort: Cohort, n_subjects: int, params: Params) -> None:
    """A folder of EDF+ nights and their covariates, written beside and moved into place."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    rows = []
    for night in cohort_nights(cohort, n_subjects, params):
        _write_edf_night(tmp, night, params.fs)
        age, sex = float(night.features[0, 0]), int(night.features[0, 1])
        rows.append([night.name, night.subject, cohort.name, f"{age:.2f}", sex])
    with (tmp / "covariates.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["record", "subject", "cohort", "age", "sex"])
        writer.writerows(rows)
    manifest = {**asdict(params), "params_hash": params.digest(), "synthetic": True}
    (tmp / "params.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def _is_current(path: Path, digest: str) -> bool:
    if path.is_dir():
        try:
            written = json.loads((path / "params.json").read_text())
        except (OSError, ValueError):
            return False
        return bool(written.get("params_hash") == digest)
    try:
        with h5py.File(path, "r") as f:
            return bool(f.attrs.get("params_hash") == digest)
    except (OSError, KeyError):
        return False


def generate(
    out_dir: Path,
    *,
    seed: int = 0,
    subjects_a: int = 32,
    subjects_b: int = 24,
    nights_per_subject: int = 1,
    fs: int = 64,
    min_epochs: int = 80,
    max_epochs: int = 160,
    force: bool = False,
    fmt: str = "edf",
) -> dict[str, Path]:
    """Write the cohorts A and B under ``out_dir``; return their paths.

    ``fmt`` 'edf': folders ``cohort_A/`` and ``cohort_B/`` of EDF+ nights (read by the
    ``edf`` source); 'hdf5': files ``cohort_A.h5`` and ``cohort_B.h5``. A cohort already there
    that was written with the same parameters is kept unless ``force``. The same parameters
    always give the same arrays.
    """
    if fmt not in ("edf", "hdf5"):
        raise ValueError(f"fmt must be 'edf' or 'hdf5', got {fmt!r}")
    if not 1 <= min_epochs <= max_epochs:
        raise ValueError(f"need 1 <= min_epochs <= max_epochs, got {min_epochs}, {max_epochs}")
    if fs < 16:
        raise ValueError(f"fs must be at least 16 Hz to draw a QRS complex, got {fs}")
    params = Params(seed, subjects_a, subjects_b, nights_per_subject, fs, min_epochs, max_epochs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, n_subjects in (("A", subjects_a), ("B", subjects_b)):
        path = out_dir / (f"cohort_{name}" if fmt == "edf" else f"cohort_{name}.h5")
        if force or not _is_current(path, params.digest()):
            write = _write_edf_cohort if fmt == "edf" else _write_cohort
            write(path, COHORTS[name], n_subjects, params)
        paths[name] = path
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subjects-a", type=int, default=32)
    parser.add_argument("--subjects-b", type=int, default=24)
    parser.add_argument("--nights", type=int, default=1, help="nights per subject")
    parser.add_argument("--fs", type=int, default=64, help="sampling rate in Hz")
    parser.add_argument("--min-epochs", type=int, default=80)
    parser.add_argument("--max-epochs", type=int, default=160)
    parser.add_argument("--force", action="store_true", help="rewrite even if up to date")
    parser.add_argument(
        "--format", choices=("edf", "hdf5"), default="edf", help="EDF+ folders or HDF5 files"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        paths = generate(
            args.out,
            seed=args.seed,
            subjects_a=args.subjects_a,
            subjects_b=args.subjects_b,
            nights_per_subject=args.nights,
            fs=args.fs,
            min_epochs=args.min_epochs,
            max_epochs=args.max_epochs,
            force=args.force,
            fmt=args.format,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, path in paths.items():
        files = list(path.iterdir()) if path.is_dir() else [path]
        size = sum(f.stat().st_size for f in files)
        print(f"cohort {name}: {path} ({len(files)} files, {size / 1e6:.1f} MB)")
    print(f"synthetic data ready in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
