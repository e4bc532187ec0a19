"""Loss weighting as a treatment: the training part unchanged, a weight per beat for the loss.

A weighting is an imbalanced-learn sampler that changes no beat ("bypass"), so it goes through the same
protocol as every resampler (``resampling.registry.treat``), plus ``sample_weight``.
Two weightings: inverse class frequency (every class weighs the same in the loss), and ECGTransForm's
log-scaled weights (bounded: a class 5,000 times rarer weighs ~8.5 times more per beat, not 5,000).
"""
from __future__ import annotations

import numpy as np
from imblearn.base import BaseSampler


class _Weighting(BaseSampler):
    """The beats as they are; the loss weights come from ``sample_weight``."""

    _sampling_type = "bypass"
    _parameter_constraints: dict = {}

    def __init__(self):
        super().__init__()

    def _fit_resample(self, x, y):
        return x, y


class ClassWeighting(_Weighting):
    """Inverse class frequency, n / (classes present × count of the beat's class) (scikit-learn's
    "balanced"): every class weighs as much in the loss as it would in a balanced set."""

    def sample_weight(self, y: np.ndarray) -> np.ndarray:
        classes, where, counts = np.unique(np.asarray(y), return_inverse=True, return_counts=True)
        return (len(where) / (len(classes) * counts))[where].astype(np.float32)


class LogClassWeighting(_Weighting):
    """ECGTransForm's bounded weighting: a beat of class c weighs max(1, ln(n_max / n_c)), n_max the
    majority's count. Rare classes gain weight logarithmically, not in proportion to their rarity: on the
    inter split the 8 training Q beats weigh ln(45,000 / 8) ≈ 8.6 times an N beat, not ~5,600 times."""

    def sample_weight(self, y: np.ndarray) -> np.ndarray:
        _, where, counts = np.unique(np.asarray(y), return_inverse=True, return_counts=True)
        return np.maximum(1.0, np.log(counts.max() / counts))[where].astype(np.float32)
