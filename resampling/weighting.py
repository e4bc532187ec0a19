"""Loss weighting as a treatment: the training part unchanged, a weight per beat for the loss.

A weighting has imbalanced-learn's sampler interface (``fit_resample``, ``get_params``), so it goes
through the same protocol as every resampler (``resampling.registry.treat``), plus ``sample_weight``.
Two weightings: inverse class frequency (every class weighs the same in the loss), and ECGTransForm's
log-scaled weights (bounded: a class 5,000 times rarer weighs ~8.5 times more per beat, not 5,000).
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


class LogClassWeighting(BaseEstimator):
    """ECGTransForm's bounded weighting: a beat of class c weighs max(1, ln(n_max / n_c)), n_max the
    majority's count. Rare classes gain weight logarithmically, not in proportion to their rarity: on the
    inter split the 8 training Q beats weigh ln(45,000 / 8) ≈ 8.6 times an N beat, not ~5,600 times."""

    def fit_resample(self, x, y):
        return x, y

    def sample_weight(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y).astype(np.int64)
        counts = np.bincount(y)
        present = counts > 0
        per_class = np.ones(len(counts))
        per_class[present] = np.maximum(1.0, np.log(counts.max() / counts[present]))
        return per_class[y].astype(np.float32)
