"""Minority beats made up rather than interpolated: Gaussian-noise copies, and draws from a Gaussian mixture.

Both raise every minority class to the majority's size, keep the original beats first (in their order)
and append the new ones class by class. Beats are zero-padded after their end (Kachuee et al.); a noise
copy keeps its source's padding at zero, so the padding never tells it from a real beat. Where features
follow the waveform in each row (``benchmark.data.inputs``: beat statistics, RR intervals), the noise
and its scale are the waveform's alone, and a copy keeps its source's features. A mixture's draws
are its own: where a class's beats end at different lengths, the tail is drawn like every other sample.
"""
from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from imblearn.over_sampling.base import BaseOverSampler
from sklearn.utils._param_validation import Interval, StrOptions

from resampling.registry import ResamplingError

MIN_BEATS_PER_COMPONENT = 5  # fewer and a mixture component fits a handful of beats, not a distribution


def shortfalls(y: np.ndarray, target: int | None = None) -> dict[int, int]:
    """{class: beats it lacks} for every class present with fewer than ``target`` (default: the majority's)."""
    counts = np.bincount(y.astype(np.int64))
    target = counts.max() if target is None else target
    return {int(c): int(target - counts[c]) for c in np.flatnonzero(counts) if counts[c] < target}


def signal_mask(x: np.ndarray) -> np.ndarray:
    """True up to each beat's last non-zero sample: the beat itself, without its zero padding."""
    nonzero = x != 0
    last = x.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
    last[~nonzero.any(axis=1)] = 0
    return np.arange(x.shape[1])[None, :] < last[:, None]


def noise_copies(x: np.ndarray, n: int, noise_scale: float, rng: np.random.Generator,
                 features: int = 0) -> np.ndarray:
    """``n`` beats drawn from ``x`` with replacement, each plus Gaussian noise of standard deviation
    ``noise_scale`` × its peak-to-peak amplitude (= ``noise_scale`` for beats scaled to [0, 1]).
    ``features``: how many of each row's last columns are appended features, copied without noise."""
    source = x[rng.integers(0, len(x), n)]
    if not 0 <= features < x.shape[1]:
        raise ValueError(f"{features} appended features in rows of {x.shape[1]} columns: no waveform is left")
    wave = source[:, :x.shape[1] - features]
    amplitude = np.ptp(wave, axis=1, keepdims=True)
    noise = rng.standard_normal(wave.shape) * noise_scale * amplitude
    copies = source.copy()
    copies[:, :wave.shape[1]] = wave + noise * signal_mask(wave)
    return copies.astype(x.dtype)


def _appended(x, y, new: dict[int, np.ndarray]):
    if not new:
        return x, y
    return (np.concatenate([x, *new.values()]).astype(x.dtype, copy=False),
            np.concatenate([y, *[np.full(len(v), c, dtype=y.dtype) for c, v in new.items()]]))


SEED = [Interval(Integral, 0, None, closed="left"), None]  # np.random.default_rng's seed: a whole number or None


class DenseBeats:
    """For an imbalanced-learn sampler that works on dense beats only: its tags say so, and sparse input is
    refused with scikit-learn's error (convert it with ``.toarray()``) before any work."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags

    def _check_X_y(self, X, y, accept_sparse=None):
        return super()._check_X_y(X, y, accept_sparse=False)


class NoiseOversampler(DenseBeats, BaseOverSampler):
    """Every minority class raised to the majority's size (``sampling_strategy``: imbalanced-learn's, for an
    over-sampler) with Gaussian-noise copies of its beats."""

    _parameter_constraints = {**BaseOverSampler._parameter_constraints,
                              "noise_scale": [Interval(Real, 0, None, closed="left")], "random_state": SEED,
                              "features": [Interval(Integral, 0, None, closed="left")]}

    def __init__(self, sampling_strategy="auto", noise_scale: float = 0.02, random_state: int | None = None,
                 features: int = 0):
        super().__init__(sampling_strategy=sampling_strategy)
        self.noise_scale = noise_scale
        self.random_state = random_state
        self.features = features  # appended feature columns, set by ``resampling.treat`` from the input

    def _fit_resample(self, x, y):
        rng = np.random.default_rng(self.random_state)
        return _appended(x, y, {c: noise_copies(x[y == c], n, self.noise_scale, rng, self.features)
                                for c, n in self.sampling_strategy_.items() if n > 0})


class GaussianMixtureOversampler(DenseBeats, BaseOverSampler):
    """Every minority class raised to the majority's size (``sampling_strategy``) with beats drawn from a Gaussian
    mixture fitted to that class alone (scikit-learn's ``GaussianMixture``; diagonal covariances by default: a
    full 187 × 187 covariance per component needs far more beats than the rare classes have)."""

    _parameter_constraints = {**BaseOverSampler._parameter_constraints,
                              "n_components": [Interval(Integral, 1, None, closed="left")],
                              "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
                              "random_state": SEED}

    def __init__(self, sampling_strategy="auto", n_components: int = 3, covariance_type: str = "diag",
                 random_state: int | None = None):
        super().__init__(sampling_strategy=sampling_strategy)
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.random_state = random_state

    def _fit_resample(self, x, y):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture

        needed = MIN_BEATS_PER_COMPONENT * self.n_components
        classes, counts = np.unique(y, return_counts=True)
        count = dict(zip(classes.tolist(), counts.tolist()))
        lacking = {c: n for c, n in self.sampling_strategy_.items() if n > 0}
        few = {c: count[c] for c in lacking if count[c] < needed}
        if few:
            raise ResamplingError(
                "too few beats for a " f"{self.n_components}-component mixture ({needed} needed, "
                f"{MIN_BEATS_PER_COMPONENT} per component): " + ", ".join(f"class {c} has {n}" for c, n in few.items())
                + "; use fewer components (gmm[n_components=1]) or another treatment")
        new = {}
        for c, n in lacking.items():
            beats = x[y == c]
            mixture = GaussianMixture(self.n_components, covariance_type=self.covariance_type,
                                      random_state=self.random_state)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                mixture.fit(beats.astype(np.float64))
            drawn, _ = mixture.sample(n)  # seeded by random_state; grouped by component, so shuffled
            new[c] = drawn[np.random.default_rng(self.random_state).permutation(n)].astype(x.dtype)
        return _appended(x, y, new)
