"""Under- and oversampling at once: the majority class cut to a target, the minority classes raised to one.

The published uses: the LSTM project to make tuning affordable, the binary normal/abnormal project cut N
to 60,000 and raised the abnormal class to 30,000 (``under_over[majority_count=60000,minority_count=30000]``).
The defaults scale with the data instead: the majority keeps half its beats, and every minority class is
raised to half of what the majority keeps (intra training part: N 65,000 → ~32,500, each minority to
~16,000). A minority class already above its target keeps all its beats.
"""
from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from imblearn.base import BaseSampler
from sklearn.utils._param_validation import Interval

from resampling.synthetic import SEED, DenseBeats, noise_copies


class UnderOverSampler(DenseBeats, BaseSampler):
    """Random undersampling of the majority class to ``majority_count`` beats (else ``majority_fraction`` of
    its own), then every minority class below ``minority_count`` (else ``minority_fraction`` of the
    majority's target) raised to it: by random duplicates, or by Gaussian-noise copies when
    ``noise_scale`` > 0 (``resampling.synthetic.noise_copies``). It both cuts and raises, which none of
    imbalanced-learn's sampling types says, so it declares none ("bypass") and its targets are its own."""

    _sampling_type = "bypass"
    _parameter_constraints = {
        "majority_fraction": [Interval(Real, 0, 1, closed="right")],
        "minority_fraction": [Interval(Real, 0, None, closed="left")],
        "majority_count": [Interval(Integral, 1, None, closed="left"), None],
        "minority_count": [Interval(Integral, 0, None, closed="left"), None],
        "noise_scale": [Interval(Real, 0, None, closed="left")], "random_state": SEED,
        "features": [Interval(Integral, 0, None, closed="left")]}

    def __init__(self, majority_fraction: float = 0.5, minority_fraction: float = 0.5,
                 majority_count: int | None = None, minority_count: int | None = None,
                 noise_scale: float = 0.0, random_state: int | None = None, features: int = 0):
        super().__init__()
        self.majority_fraction = majority_fraction
        self.minority_fraction = minority_fraction
        self.majority_count = majority_count
        self.minority_count = minority_count
        self.noise_scale = noise_scale
        self.random_state = random_state
        self.features = features  # appended feature columns, set by ``resampling.treat`` from the input

    def targets(self, y: np.ndarray) -> tuple:
        """(majority class, its target, the minority classes' target) for labels ``y``."""
        classes, counts = np.unique(np.asarray(y), return_counts=True)
        majority = classes[np.argmax(counts)]
        counts = dict(zip(classes.tolist(), counts.tolist()))
        keep = self.majority_count if self.majority_count is not None else \
            int(round(self.majority_fraction * counts[majority]))
        if not 1 <= keep <= counts[majority]:
            raise ValueError(f"the majority class {majority} has {counts[majority]} beats: it can be cut to "
                             f"1..{counts[majority]}, not {keep} (majority_count / majority_fraction)")
        raise_to = self.minority_count if self.minority_count is not None else \
            int(round(self.minority_fraction * keep))
        if raise_to < 0:
            raise ValueError(f"minority target must be >= 0, got {raise_to} (minority_count / minority_fraction)")
        return majority, keep, raise_to

    def _fit_resample(self, x, y):
        majority, keep, raise_to = self.targets(y)
        rng = np.random.default_rng(self.random_state)
        of_majority = np.flatnonzero(y == majority)
        dropped = np.setdiff1d(of_majority, rng.choice(of_majority, keep, replace=False))
        kept = np.setdiff1d(np.arange(len(y)), dropped)  # the kept beats in their original order
        new_x, new_y = [x[kept]], [y[kept]]
        classes, counts = np.unique(y, return_counts=True)
        for c, count in zip(classes, counts):
            if c == majority or count >= raise_to:
                continue
            beats, n = x[y == c], raise_to - int(count)
            new_x.append(noise_copies(beats, n, self.noise_scale, rng, self.features) if self.noise_scale > 0
                         else beats[rng.integers(0, len(beats), n)])
            new_y.append(np.full(n, c, dtype=y.dtype))
        return np.concatenate(new_x).astype(x.dtype, copy=False), np.concatenate(new_y)
