"""Collapsed runs: a training that failed by predicting one class, told apart from a treatment's effect.

A run has collapsed when it predicts a single class for every test beat, or when its best validation
macro F1 never rose above what predicting the validation part's commonest class for every beat scores
(that class's F1 over the number of classes). Such a run says nothing about its treatment except that
training failed; where the cause can be computed it is named: the spread of the loss weights its
treatment gave the classes (inverse-frequency weighting on the inter split gives its 8 training Q beats
thousands of times an N beat's weight).
"""
from __future__ import annotations

import numpy as np


def majority_level(counts: dict[str, int]) -> tuple[str, float]:
    """The commonest class of a part and the macro F1 of predicting it for every beat."""
    total = sum(counts.values())
    name = max(counts, key=counts.get)
    share = counts[name] / total if total else 0.0
    return name, (2 * share / (1 + share)) / len(counts) if total else 0.0


def weight_spread(resampler: str, seed: int, train_counts: dict[str, int]) -> str | None:
    """The loss weights treatment ``resampler`` gives the training part's classes, as the largest ratio
    between two of them, in words; None when it does not weight the loss."""
    from resampling import loss_weights

    classes = list(train_counts)
    counts = np.array([train_counts[c] for c in classes], dtype=np.int64)
    y = np.repeat(np.arange(len(classes)), counts)
    weights = loss_weights(resampler, y, seed)
    if weights is None:
        return None
    per_class = {c: float(weights[y == i][0]) for i, c in enumerate(classes) if counts[i]}
    heavy, light = max(per_class, key=per_class.get), min(per_class, key=per_class.get)
    return (f"its loss weights give each of the {train_counts[heavy]:,} training {heavy} beats "
            f"{per_class[heavy] / per_class[light]:,.0f}× the weight of one {light} beat")


def collapse_reason(metrics: dict, predictions: np.ndarray | None, classes: tuple[str, ...],
                    validation_counts: dict[str, int] | None) -> str | None:
    """Why a run counts as collapsed (with its cause where it can be computed), or None."""
    reasons = []
    if predictions is not None and len(predictions) and len(np.unique(predictions)) == 1:
        reasons.append(f"predicts {classes[int(predictions[0])]} for every test beat")
    if validation_counts:
        name, level = majority_level(validation_counts)
        if metrics["best_val_macro_f1"] <= level + 1e-9:
            reasons.append(f"its validation macro F1 never rose above {level:.3f}, the score of predicting "
                           f"{name} for every beat")
    if not reasons:
        return None
    cause = weight_spread(metrics["resampler"], metrics["seed"], metrics["resampling"]["train_class_counts"])
    return "; ".join(reasons + ([cause] if cause else []))
