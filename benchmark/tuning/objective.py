"""One trial of a study: a fair run of the trainer scored on the validation part only.

A fresh model of the registry is built and trained by its estimator exactly as a grid's run is (seeded,
the grid's step budget, early stopping on validation macro F1), from the treated training part a grid would
use (the same cache entry). The test part is never given to a trial: a study maximises validation macro F1.
Plain arrays in and a dict out, so a Ray Tune worker runs the same function.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from benchmark.store import Resampled
from benchmark.tuning.space import TrialSettings


@dataclass(frozen=True)
class TrialData:
    """What every trial of a study shares: the validation part and, per treatment name, its treated training
    part (others are treated on demand from the raw training part)."""

    model: str
    seed: int
    n_classes: int
    features: int
    val_x: np.ndarray
    val_y: np.ndarray
    train_x: np.ndarray  # the untreated training part, (n, length, 1)
    train_y: np.ndarray
    jit: bool = False


def treated_part(data: TrialData, resampler: str, parts: dict, cache=None, key: Callable[[str], str] | None = None
                 ) -> Resampled:
    """The training part ``resampler`` gives: from ``parts`` (this process's), else the cache, else treated
    here (and cached)."""
    from benchmark.running.executors import resample_training_part

    if resampler in parts:
        return parts[resampler]
    part = cache.load(key(resampler)) if cache is not None else None
    if part is None:
        part = resample_training_part(data.train_x, data.train_y, resampler, data.seed, data.features)
        if cache is not None:
            cache.save(key(resampler), part)
    parts.clear()  # one treated part in memory at a time (a grid's local executor does the same)
    parts[resampler] = part
    return part


def fit_trial(data: TrialData, settings: TrialSettings, part: Resampled,
              on_check: Callable[[int, float], bool] | None = None) -> dict:
    """Train one fresh model with ``settings`` on ``part``; its validation record. ``on_check(step, score)``
    sees every validation check and may stop the training (the pruner)."""
    from benchmark.estimators import make_estimator

    start = time.perf_counter()
    estimator = make_estimator(data.model, part.x.shape[1:], data.n_classes, data.seed, data.features,
                               settings.hyperparameters)
    report = estimator.fit(part.x, part.y, part.weights, data.val_x, data.val_y, settings.train, data.jit,
                           on_check=on_check)
    return {"val_macro_f1": float(report["best_val_macro_f1"]), "best_step": int(report["best_step"]),
            "steps_trained": int(report["steps_trained"]), "stopped_early": bool(report["stopped_early"]),
            "seconds": round(time.perf_counter() - start, 2),
            "history": [[h["step"], h["val_macro_f1"]] for h in report["history"]]}
