"""Class priors and prior correction (Saerens et al. 2002), as pure functions of a run's record and its
stored probabilities: read by ``evaluate`` (the prior-corrected decisions) and by an exported bundle."""
from __future__ import annotations

import numpy as np


def training_prior(metrics: dict, classes: tuple[str, ...]) -> np.ndarray:
    """The class prior a run was trained under: each class's share of its (weighted) training loss, as the
    run recorded it; for runs recorded before priors were kept, recomputed from its training part's class
    counts and its treatment's loss weights."""
    recorded = metrics["resampling"].get("trained_prior")
    if recorded is not None:
        return np.array([recorded[c] for c in classes], dtype=float)
    from resampling import loss_weights, trained_prior

    counts = np.array([metrics["resampling"]["train_class_counts"][c] for c in classes], dtype=np.int64)
    y = np.repeat(np.arange(len(classes)), counts)
    return trained_prior(y, loss_weights(metrics["resampler"], y, metrics["seed"]), len(classes))


def prior_corrected(probabilities: np.ndarray, trained: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Predicted classes after moving the decision from the training prior back to the original one
    (Saerens et al. 2002): argmax of p(c | x) · π_original(c) / π_trained(c)."""
    ratio = np.divide(original, trained, out=np.zeros_like(original, dtype=float), where=trained > 0)
    return np.argmax(probabilities * ratio, axis=1).astype(np.int8)
