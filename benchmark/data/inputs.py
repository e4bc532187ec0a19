"""What a model is given for each beat: the one place that builds a model's input from a beat.

By default a model sees the beat window as built (187 samples at 125 Hz). Three options, the published
systems' choices, change that; each is part of the grid's data config and so of every run's identity:

- ``samples=K``: only the first K samples of the window (the LSTM project trained on the first 140 of 187);
- ``beat_stats``: four statistics of the whole window appended — mean, standard deviation, skewness and
  excess kurtosis (the CNN-LSTM project's engineered features). Skewness and kurtosis reach the tens on
  spiky beats, so both are compressed as sign(v)·ln(1 + |v|);
- ``rr``: five RR-interval features appended (:func:`rr_features`), what every strong inter-patient result
  uses (de Chazal et al. 2004; Mar et al. 2011; Zhang et al. 2014; Mondéjar-Guerra et al. 2019).

The input is one row per beat, ``[waveform | statistics | RR features]``, so a treatment (SMOTE, ADASYN,
...) resamples the appended features with the waveform; noise copies (``noise``, ``under_over`` with a
noise scale) are told how many columns are features, and add noise to the waveform alone. Flat models (MLP, random forest) read the row as
it is; the others get the appended features as a second branch beside the waveform
(``models.registry.build_model``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from benchmark.errors import DataError

STATISTICS = ("mean", "std", "skewness", "kurtosis")
RR_FEATURES = ("pre_rr", "post_rr", "rr_ratio", "local_rr", "record_rr")
LOCAL_BEATS = 10  # the local average RR: the mean of the RR intervals of the 10 beats around a beat
MIN_SAMPLES = 32  # fewer leaves the convolutional models' pooling stacks nothing to pool


@dataclass(frozen=True)
class InputConfig:
    """What a model sees of each beat (module docstring). ``samples``: the first K samples, or None (all)."""

    samples: int | None = None
    beat_stats: bool = False
    rr: bool = False

    def __post_init__(self):
        if self.samples is not None and not MIN_SAMPLES <= self.samples:
            raise ValueError(f"InputConfig.samples must be at least {MIN_SAMPLES} (or None: the whole window), "
                             f"got {self.samples}")

    @property
    def is_default(self) -> bool:
        return self == InputConfig()

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The names of the appended features, in their order after the waveform."""
        return (STATISTICS if self.beat_stats else ()) + (RR_FEATURES if self.rr else ())

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def length(self, window: int) -> int:
        """The number of waveform samples a model sees of a ``window``-sample beat."""
        if self.samples is not None and self.samples > window:
            raise DataError(f"the input takes the first {self.samples} samples of a beat, but beats have only "
                            f"{window}")
        return window if self.samples is None else self.samples

    def tag(self) -> str:
        """A short name for the grid's folder ("" for the default input), e.g. "first140-stats-rr"."""
        parts = ([f"first{self.samples}"] if self.samples is not None else []) + \
                (["stats"] if self.beat_stats else []) + (["rr"] if self.rr else [])
        return "-".join(parts)

    def describe(self) -> str:
        """In words, e.g. "the first 140 samples + beat statistics + RR intervals"."""
        parts = [f"the first {self.samples} samples" if self.samples is not None else "the whole window"]
        parts += (["beat statistics"] if self.beat_stats else []) + (["RR intervals"] if self.rr else [])
        return " + ".join(parts)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict | None) -> "InputConfig":
        return cls(**(values or {}))


def inputs_of(manifest: dict) -> InputConfig:
    """The input a grid's runs were trained on, from its manifest (grids written before inputs: the default)."""
    return InputConfig.from_dict((manifest.get("data") or {}).get("inputs"))


def rr_features(seconds: np.ndarray) -> np.ndarray:
    """RR-interval features (n, 5) float32 of one record's beats at R-peak times ``seconds`` (any order):
    the RR interval before the beat and after it (the first beat's "before" is its "after", the last beat's
    "after" its "before"), their ratio, the local average (the mean "before" interval of the
    ``LOCAL_BEATS`` beats centred on the beat) and the record's average RR interval, in seconds."""
    t = np.asarray(seconds, dtype=np.float64)
    if len(t) < 2:
        raise DataError(f"RR features need at least two beats in a recording, got {len(t)}")
    order = np.argsort(t, kind="stable")
    gaps = np.diff(t[order])
    if np.any(gaps <= 0):
        raise DataError("RR features: two beats of one recording share an R-peak position")
    pre = np.concatenate([gaps[:1], gaps])
    post = np.concatenate([gaps, gaps[-1:]])
    half = LOCAL_BEATS // 2
    window = np.ones(LOCAL_BEATS)
    padded = np.pad(pre, (half, LOCAL_BEATS - half - 1), mode="constant")
    counts = np.convolve(np.pad(np.ones_like(pre), (half, LOCAL_BEATS - half - 1)), window, "valid")
    local = np.convolve(padded, window, "valid") / counts
    record = np.full(len(t), gaps.mean())
    features = np.empty((len(t), len(RR_FEATURES)), np.float64)
    features[order] = np.stack([pre, post, pre / post, local, record], axis=1)
    return features.astype(np.float32)


def record_rr_features(record: np.ndarray, sample: np.ndarray, fs: float) -> np.ndarray:
    """:func:`rr_features` of every beat, each record's beats on their own (R peaks at ``sample``, ``fs`` Hz)."""
    features = np.empty((len(sample), len(RR_FEATURES)), np.float32)
    record = np.asarray(record)
    for name in np.unique(record):
        members = np.flatnonzero(record == name)
        features[members] = rr_features(np.asarray(sample)[members] / float(fs))
    return features


def beat_statistics(x: np.ndarray) -> np.ndarray:
    """Mean, standard deviation, compressed skewness and compressed excess kurtosis of each beat (n, 4)."""
    from scipy.stats import kurtosis, skew

    x = np.asarray(x, dtype=np.float64)
    flat = x.std(axis=1) == 0  # no shape to describe: skewness and kurtosis are 0, not NaN
    safe = np.where(flat[:, None], np.arange(x.shape[1], dtype=np.float64), x)
    shape = np.stack([skew(safe, axis=1), kurtosis(safe, axis=1)], axis=1)
    shape[flat] = 0.0
    compressed = np.sign(shape) * np.log1p(np.abs(shape))
    return np.concatenate([x.mean(axis=1)[:, None], x.std(axis=1)[:, None], compressed], axis=1).astype(np.float32)


def model_inputs(x: np.ndarray, config: InputConfig, rr: np.ndarray | None = None,
                 what: str = "these beats") -> np.ndarray:
    """The model input (n, length + features) float32 of beats ``x`` (n, window) under ``config``; ``rr``:
    the beats' RR features (:func:`rr_features`), needed when ``config.rr``."""
    x = np.asarray(x, dtype=np.float32)
    columns = [x[:, :config.length(x.shape[1])]]
    if config.beat_stats:
        columns.append(beat_statistics(x))
    if config.rr:
        if rr is None:
            raise DataError(f"{what} have no R-peak positions, so RR-interval features cannot be built for them "
                            "(the Kaggle CSVs hold single beats only); build the beats from the WFDB records, or "
                            "train without --rr")
        columns.append(np.asarray(rr, dtype=np.float32))
    return np.concatenate(columns, axis=1) if len(columns) > 1 else np.ascontiguousarray(columns[0])


def with_inputs(beats, config: InputConfig, what: str = "these beats"):
    """``beats`` (a ``BeatSet``) whose ``x`` is the model input under ``config`` (unchanged by default)."""
    if config.is_default:
        return beats
    from dataclasses import replace

    return replace(beats, x=model_inputs(beats.x, config, beats.rr, what))
