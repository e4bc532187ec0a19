"""Train one fresh model of the registry and evaluate it: the work of one run, whatever its estimator.

Fairness rules, identical for every model and treatment:
- a new model is built (and, for Keras, compiled) for every run (no optimizer state carried over);
- every random source is seeded from the run's seed;
- a Keras model trains for ``TrainConfig.steps`` optimizer updates, whatever the training-set size, with
  early stopping on validation macro F1 (``benchmark.estimators``); a scikit-learn model's budget is its
  own hyperparameters;
- the test part is touched once, at the end, by the weights the validation chose.
"""
from __future__ import annotations

import time

import numpy as np

from benchmark.config import TrainConfig
from benchmark.metrics.evaluator import evaluate
from benchmark.tasks import AAMI_CLASSES


def train_and_evaluate(model_name: str, train_x, train_y, val_x, val_y, test_x, test_y,
                       cfg: TrainConfig, seed: int, jit_compile: bool = False, sample_weight=None,
                       classes: tuple[str, ...] = AAMI_CLASSES, features: int = 0,
                       hyperparameters: dict | None = None, control=None) -> dict:
    """Build, train and evaluate one model; returns its training report (``Estimator.fit``), its test
    metrics, predictions and class probabilities, and the saved model (``model``: the file's bytes,
    ``model_suffix``: its format's file suffix).

    ``jit_compile``: compile the train step with XLA (see ``benchmark.running.compute.resolve_jit``); it changes
    how fast a run goes and, by float rounding, its last bits, never what it computes. ``sample_weight``:
    a loss weight per training beat (class weighting), or None. ``classes``: the task's class names.
    ``features``: how many of the input's last positions are appended features (``benchmark.data.inputs``).
    ``hyperparameters``: the builder's, where tuned settings (``--params``) set them; None: its defaults.
    ``control``: the run's checkpoints and deadline (``benchmark.estimators.control.RunControl``); the test
    part is added to it for the anytime predictions, each scored here (``anytime``; their probabilities as
    ``anytime_probabilities`` where the checkpoint differs from the final one).
    """
    from dataclasses import replace

    from benchmark.estimators.control import RunControl
    from benchmark.estimators import make_estimator

    estimator = make_estimator(model_name, train_x.shape[1:], len(classes), seed, features, hyperparameters)
    control = replace(control or RunControl(), test_x=test_x)
    report = estimator.fit(train_x, train_y, sample_weight, val_x, val_y, cfg, jit_compile, control=control)
    start = time.perf_counter()
    probabilities = estimator.predict_proba(test_x)
    infer_time = time.perf_counter() - start
    test_pred = np.argmax(probabilities, axis=1)
    anytime, anytime_probabilities = score_anytime(report.pop("anytime", []), report["best_step"], test_y, classes)
    return {
        "test": evaluate(test_y, test_pred, classes=classes),
        "test_predictions": test_pred.astype(np.int8),  # per beat, for paired tests over test beats
        "test_probabilities": probabilities.astype(np.float16),
        **({"anytime": anytime, "anytime_probabilities": anytime_probabilities} if anytime else {}),
        **report,
        "seconds": {**report["seconds"], "inference": infer_time},
        "test_samples_per_second": len(test_y) / infer_time if infer_time else None,
        "estimator": estimator.kind,
        "model": estimator.save(),
        "model_suffix": estimator.suffix,
    }


def score_anytime(entries: list[dict], best_step: int, test_y, classes) -> tuple[list[dict], dict[str, tuple]]:
    """The anytime checkpoints' test scores, and the (predictions, probabilities) of those that are not the run's
    final checkpoint (keyed by fraction); a fraction whose best checkpoint is the final one says so instead."""
    scored, kept = [], {}
    for entry in entries:
        entry = dict(entry)
        probabilities, predictions = entry.pop("probabilities", None), entry.pop("predictions", None)
        if predictions is not None:
            entry["same_as_final"] = entry["best_step"] == best_step
            entry["test"] = evaluate(test_y, predictions, classes=classes)
            if not entry["same_as_final"]:
                kept[f"{entry['fraction']:g}"] = (predictions, probabilities)
        scored.append(entry)
    return scored, kept
