"""Loss weighting as a treatment: the training part unchanged, a weight per beat for the loss.

A weighting has imbalanced-learn's sampler interface (``fit_resample``, ``get_params``), so it goes
through the same protocol as every resampler (``resampling.registry.treat``), plus ``sample_weight``.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator


class ClassWeighting(BaseEstimator):
    """Inverse class frequency, n / (classes present × count of the beat's class) (scikit-learn's
    "balanced"): every class weighs as much in the loss as it would in a balanced set."""

    def fit_resample(self, x, y):
        return x, y

    def sample_weight(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y)
        classes, counts = np.unique(y, return_counts=True)
        per_class = np.zeros(int(classes.max()) + 1)
        per_class[classes] = len(y) / (len(classes) * counts)
        return per_class[y.astype(np.int64)].astype(np.float32)
