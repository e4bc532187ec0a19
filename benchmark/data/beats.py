"""Turn raw mitdb records into single-beat windows the way Kachuee et al. 2018 did (arXiv:1805.00794).

The paper's recipe, and how each point it leaves open is settled here:

1. First channel (MLII in 45 of 48 records), resampled 360 → 125 Hz with a polyphase filter
   (``scipy.signal.resample_poly``; the paper does not name its resampler).
2. R peaks: the reference beat annotations (the common, cleaner variant of the paper's
   threshold detector), mapped to 125 Hz by rounding ``sample * 125 / fs``.
3. T, the local median R-R interval: the median R-R interval among the beats of the beat's own
   10-s window (windows tile the record from its start, as in the paper). A window with fewer than
   two beats uses the record's median R-R interval.
4. Window: ``round(1.2 * T)`` samples starting at the R peak, cut to at most 187. A beat whose
   window would run past the end of the record is dropped.
5. Amplitude: scaled to [0, 1]. ``normalise="beat"`` (default) min-max scales each beat's own
   window, so a beat's shape never depends on its neighbours; ``normalise="window"`` scales the
   10-s window as the paper describes. A flat window (max == min) is dropped.
6. Zero-padded to 187 samples.
7. Labels: AAMI EC57 — N {N L R e j}, S {A a J S}, V {V E}, F {F}, Q {/ f Q}; other annotation
   symbols (rhythm changes, noise, '+', '~', ...) are neither beats nor R peaks here.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from benchmark.data.inputs import rr_features
from benchmark.errors import DataError
from benchmark.tasks import AAMI_CLASSES, AAMI_SYMBOLS

CLASSES = AAMI_CLASSES  # the classes beats are built and cached with; a task groups them (benchmark.tasks)
AAMI = {sym: label for label, cls in enumerate(AAMI_CLASSES) for sym in AAMI_SYMBOLS[cls]}


@dataclass(frozen=True)
class BuildParams:
    """Every choice that changes the beat set; part of the cache key."""

    target_fs: int = 125
    length: int = 187
    window_seconds: float = 10.0
    rr_factor: float = 1.2
    channel: int = 0
    normalise: str = "beat"  # "beat" or "window", see module docstring

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class BeatSet:
    """Beats (n, length) float32 in [0, 1], AAMI labels 0..4, and where each beat came from."""

    x: np.ndarray
    y: np.ndarray
    record: np.ndarray  # record id of every beat (str)
    sample: np.ndarray  # R-peak position in the original record, at its own rate (int64)
    rr: np.ndarray | None = None  # RR-interval features (n, 5) (benchmark.data.inputs); None: no positions

    def __len__(self) -> int:
        return len(self.y)

    def take(self, index) -> "BeatSet":
        return BeatSet(self.x[index], self.y[index], self.record[index], self.sample[index],
                       None if self.rr is None else self.rr[index])

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.y, minlength=len(CLASSES))


def read_record(path: Path, channel: int):
    """Read one channel and the reference annotations; any failure names the file at fault."""
    import wfdb

    for suffix in (".hea", ".dat", ".atr"):
        if not Path(str(path) + suffix).exists():
            raise DataError(f"{path}{suffix}: missing file")
    try:
        header = wfdb.rdheader(str(path))
    except Exception as exc:
        raise DataError(f"{path}.hea: unreadable header ({exc})") from exc
    check_dat_size(path, header)
    try:
        record = wfdb.rdrecord(str(path), channels=[channel])
    except Exception as exc:
        raise DataError(f"{path}.dat: unreadable signal ({exc})") from exc
    try:
        ann = wfdb.rdann(str(path), "atr")
    except Exception as exc:
        raise DataError(f"{path}.atr: unreadable annotation file ({exc})") from exc
    signal = record.p_signal[:, 0]
    if not np.all(np.isfinite(signal)):
        raise DataError(f"{path}.dat: signal contains NaN or infinite values")
    return signal, float(record.fs), np.asarray(ann.sample), np.asarray(ann.symbol)


DAT_BITS = {"212": 12, "16": 16, "80": 8, "310": 10, "311": 10}  # bits per sample of the signal formats checked


def check_dat_size(path: Path, header) -> None:
    """A truncated .dat reads without error in wfdb (it pads); catch it from the header's promise."""
    bits = DAT_BITS.get(str(header.fmt[0]) if header.fmt else "")
    if bits is None or not header.sig_len:
        return
    expected = -(-header.sig_len * header.n_sig * bits // 8)
    actual = Path(str(path) + ".dat").stat().st_size
    if actual < expected:
        raise DataError(f"{path}.dat: truncated signal file (expected {expected} bytes for "
                        f"{header.sig_len} samples × {header.n_sig} channels, got {actual}); "
                        f"re-download with --refresh")


def segment_record(signal: np.ndarray, fs: float, samples: np.ndarray, symbols: np.ndarray,
                   params: BuildParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Beats of one record: (x (n, length) float32, labels (n,), original R-peak samples (n,))."""
    from scipy.signal import resample_poly

    ratio = Fraction(params.target_fs) / Fraction(fs).limit_denominator(1000)
    sig = resample_poly(signal, ratio.numerator, ratio.denominator)
    is_beat = np.array([s in AAMI for s in symbols], dtype=bool)
    samples, symbols = samples[is_beat], symbols[is_beat]
    labels = np.array([AAMI[s] for s in symbols], dtype=np.int8)
    peaks = np.round(samples * params.target_fs / fs).astype(np.int64)
    if len(peaks) < 2:
        return np.zeros((0, params.length), np.float32), labels[:0], samples[:0]

    window_len = int(round(params.window_seconds * params.target_fs))
    window_id = peaks // window_len
    record_rr = float(np.median(np.diff(peaks)))
    seg_len = np.empty(len(peaks), dtype=np.int64)
    for w in np.unique(window_id):
        members = window_id == w
        rr = np.diff(peaks[members])
        t = float(np.median(rr)) if len(rr) else record_rr
        seg_len[members] = min(int(round(params.rr_factor * t)), params.length)

    keep = (peaks + seg_len <= len(sig)) & (seg_len > 0)
    x = np.zeros((len(peaks), params.length), dtype=np.float32)
    if params.normalise == "window":
        lo = np.full(len(peaks), np.inf)
        hi = np.full(len(peaks), -np.inf)
        for w in np.unique(window_id):
            chunk = sig[w * window_len:(w + 1) * window_len]
            lo[window_id == w], hi[window_id == w] = chunk.min(), chunk.max()
    elif params.normalise != "beat":
        raise ValueError(f"normalise must be 'beat' or 'window', not {params.normalise!r}")
    for i in np.flatnonzero(keep):
        seg = sig[peaks[i]:peaks[i] + seg_len[i]]
        a, b = (seg.min(), seg.max()) if params.normalise == "beat" else (lo[i], hi[i])
        if b <= a:
            keep[i] = False
            continue
        x[i, :seg_len[i]] = np.clip((seg - a) / (b - a), 0.0, 1.0)
    return x[keep], labels[keep], samples[keep]


def build_record_beats(path: Path, params: BuildParams) -> BeatSet:
    signal, fs, samples, symbols = read_record(path, params.channel)
    x, y, pos = segment_record(signal, fs, samples, symbols, params)
    if len(y) == 0:
        raise DataError(f"{path}.atr: no usable beats (no beat annotations with an AAMI class, or "
                        f"every window ran past the end of the signal)")
    if len(y) == 1:
        raise DataError(f"{path}.atr: only one usable beat; a record needs two for its RR intervals")
    return BeatSet(x, y, np.full(len(y), path.name), pos.astype(np.int64), rr_features(pos / fs))


def concat(parts: list[BeatSet]) -> BeatSet:
    rr = None if any(p.rr is None for p in parts) else np.concatenate([p.rr for p in parts])
    return BeatSet(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]),
                   np.concatenate([p.record for p in parts]).astype(str),
                   np.concatenate([p.sample for p in parts]), rr)
