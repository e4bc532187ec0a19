"""Beats from a user's recording, built as the grids built theirs (``benchmark.data.beats.segment_record``):
a Kaggle-layout CSV of ready beats, a WFDB record (its reference beat annotations when it has an ``.atr``,
else R peaks found by wfdb's XQRS detector), or a raw signal with its sampling rate."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.data.beats import AAMI, BuildParams, segment_record
from benchmark.data.inputs import rr_features
from benchmark.errors import DataError

MIN_FS, MAX_FS = 50.0, 10_000.0  # sampling rates a recording may have (Hz)
MAX_SIGNAL_SAMPLES = 2_000_000  # of a recording sent to the server, per call: 30 minutes at 1 kHz


@dataclass
class Beats:
    """Beat windows (n, length); ``sample``: each beat's R peak in the original recording (None for
    ready-made beats), ``labels``: the AAMI class (0..4) a file gave each beat (or None), ``rr``: the beats'
    RR-interval features from those R peaks (``benchmark.data.inputs.rr_features``; None without them);
    ``signal``, ``fs``: the lead they were cut from and its sampling rate (None for ready-made beats);
    ``record``: the WFDB record's name, where they came from one (to say when a model was trained on it)."""

    x: np.ndarray
    sample: np.ndarray | None
    labels: np.ndarray | None
    source: str
    rr: np.ndarray | None = None
    signal: np.ndarray | None = None
    fs: float | None = None
    record: str | None = None

    def __len__(self) -> int:
        return len(self.x)


class NoBeats(DataError):
    """A valid recording in which no beat can be classified (too short, or none found): the API answers it
    with no beats; the command line says so as an error."""


def check_fs(fs) -> float:
    """A sampling rate in Hz, or an error saying why not."""
    try:
        fs = float(fs)
    except (TypeError, ValueError):
        raise DataError(f"sampling rate must be a number of Hz, got {fs!r}") from None
    if not np.isfinite(fs) or not MIN_FS <= fs <= MAX_FS:
        raise DataError(f"sampling rate {fs:g} Hz is outside {MIN_FS:g}..{MAX_FS:g} Hz")
    return fs


def detect_peaks(signal: np.ndarray, fs: float) -> np.ndarray:
    """R peaks of a signal (sample indices), by wfdb's XQRS detector."""
    from wfdb import processing

    if len(signal) < 2 * fs:
        raise NoBeats(f"signal of {len(signal)} samples is under 2 s at {fs:g} Hz: too short to find beats in")
    return np.asarray(processing.xqrs_detect(sig=np.asarray(signal, float), fs=fs, verbose=False), dtype=np.int64)


def signal_beats(signal, fs, params: BuildParams = BuildParams(), samples=None, symbols=None,
                 source: str = "signal") -> Beats:
    """Beats of one lead ``signal`` at ``fs`` Hz, at ``samples`` (with annotation ``symbols``) or at the
    R peaks XQRS finds; a beat is kept or dropped exactly as when the grids were built."""
    fs = check_fs(fs)
    signal = np.asarray(signal, dtype=float)
    if signal.ndim != 1:
        raise DataError(f"{source}: the signal must be one lead (a flat list of numbers), got shape {signal.shape}")
    if not np.all(np.isfinite(signal)):
        raise DataError(f"{source}: the signal holds NaN or infinite values")
    labelled = samples is not None
    if not labelled:
        samples = detect_peaks(signal, fs)
        symbols = np.full(len(samples), "N")  # a beat for segment_record; its class is the model's to say
    x, labels, pos = segment_record(signal, fs, np.asarray(samples), np.asarray(symbols), params)
    rr = rr_features(pos / fs) if len(pos) >= 2 else None
    return Beats(x, pos.astype(np.int64), labels if labelled else None, source, rr, signal, fs)


def record_beats(path: Path, params: BuildParams = BuildParams()) -> Beats:
    """Beats of a WFDB record ``path`` (no extension): at its reference annotations when it has an ``.atr``
    with beat annotations, else at detected R peaks."""
    import wfdb

    from benchmark.data.beats import check_dat_size, read_record

    path = Path(path)
    if Path(f"{path}.atr").exists():
        signal, fs, samples, symbols = read_record(path, params.channel)
        if any(s in AAMI for s in symbols):
            return _named(signal_beats(signal, fs, params, samples, symbols,
                                       source=f"{path} (beats at its reference annotations)"), path)
        return _named(signal_beats(signal, fs, params, source=f"{path} (its .atr has no beats; R peaks by XQRS)"), path)
    if not Path(f"{path}.hea").exists():
        raise DataError(f"{path}.hea: missing file (a WFDB record is named without its extension)")
    try:
        header = wfdb.rdheader(str(path))
    except Exception as exc:
        raise DataError(f"{path}.hea: unreadable header ({exc})") from exc
    check_dat_size(path, header)
    try:
        record = wfdb.rdrecord(str(path), channels=[params.channel])
    except Exception as exc:
        raise DataError(f"{path}: unreadable WFDB record ({exc})") from exc
    return _named(signal_beats(record.p_signal[:, 0], record.fs, params, source=f"{path} (R peaks by XQRS)"), path)


def _named(beats: Beats, path: Path) -> Beats:
    beats.record = Path(path).name
    return beats


def csv_beats(path: Path, fs: float | None = None, params: BuildParams = BuildParams()) -> Beats:
    """Beats of a CSV: Kaggle layout (187 samples and the class per row, or 187 samples alone), or one
    column of raw signal, which needs its sampling rate ``fs``."""
    from benchmark.data.splits import read_kaggle_csv

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    with path.open(errors="replace") as lines:
        first = next((line for line in lines if line.strip()), "")
    width = len(first.strip().split(","))
    if width == params.length + 1:
        beats = read_kaggle_csv(path)
        return Beats(beats.x, None, beats.y, f"{path} (Kaggle-layout beats with their classes)")
    if width == params.length:
        return Beats(_numbers(path, params.length), None, None, f"{path} (Kaggle-layout beats)")
    if width == 1:
        try:
            float(first.strip())
        except ValueError:  # not numbers at all (a binary file, a text): say so before asking for a rate
            raise DataError(f"{path}: not a CSV of numbers (its first line is {first.strip()[:40]!r}); give a "
                            "Kaggle-layout CSV, a one-column raw signal with --fs, or a WFDB record") from None
        if fs is None:
            raise DataError(f"{path}: one column, read as a raw signal, needs its sampling rate: give --fs HZ")
        return signal_beats(_numbers(path, 1)[:, 0], fs, params, source=f"{path} (raw signal at {fs:g} Hz; "
                                                                        "R peaks by XQRS)")
    raise DataError(f"{path}: {width} columns; expected {params.length + 1} (Kaggle beats and class), "
                    f"{params.length} (beats) or 1 (a raw signal with --fs)")


def _numbers(path: Path, width: int) -> np.ndarray:
    rows = []
    with path.open(errors="replace") as lines:
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            fields = line.strip().split(",")
            if len(fields) != width:
                raise DataError(f"{path}: row {i} has {len(fields)} values, expected {width}")
            try:
                rows.append([float(f) for f in fields])
            except ValueError:
                raise DataError(f"{path}: row {i} holds a value that is not a number ({line.strip()[:40]!r})") from None
    values = np.asarray(rows, dtype=np.float64).reshape(-1, width)
    if not np.all(np.isfinite(values)):
        row = int(np.argwhere(~np.isfinite(values))[0][0])
        raise DataError(f"{path}: NaN or infinite value in row {row + 1}")
    return values.astype(np.float32)


def read_input(path: Path, fs: float | None = None, params: BuildParams = BuildParams()) -> Beats:
    """Beats of ``path``: a CSV file, or a WFDB record named without its extension."""
    path = Path(path)
    if path.suffix.lower() == ".csv" or (path.is_file() and not Path(f"{path}.hea").exists()):
        return csv_beats(path, fs, params)
    if fs is not None:
        raise DataError(f"{path}: a WFDB record says its own sampling rate; --fs is for a one-column CSV")
    return record_beats(path, params)
