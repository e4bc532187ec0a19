"""Classification metrics as pure functions of label arrays (no Keras, no I/O).

Labels are fixed to 0..n_classes-1, so a class absent from a test part still has its row and
column; a ratio with a zero denominator is 0 (scikit-learn's ``zero_division=0``).
"""
from __future__ import annotations

import numpy as np

from benchmark.data.beats import CLASSES


def confusion_matrix(y_true, y_pred, n_classes: int = len(CLASSES)) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{name} has labels outside 0..{n_classes - 1}")
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(num.shape, dtype=float), where=den > 0)


def per_class_recall(cm: np.ndarray) -> np.ndarray:
    return _ratio(np.diag(cm).astype(float), cm.sum(axis=1))


def per_class_precision(cm: np.ndarray) -> np.ndarray:
    return _ratio(np.diag(cm).astype(float), cm.sum(axis=0))


def per_class_f1(cm: np.ndarray) -> np.ndarray:
    """F1 of every class, 2·TP / (2·TP + FP + FN), for one confusion matrix or a batch (..., n, n)."""
    cm = np.asarray(cm, dtype=float)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    return _ratio(2 * tp, cm.sum(axis=-1) + cm.sum(axis=-2))  # (TP + FN) + (TP + FP)


def macro_f1_of_counts(cm: np.ndarray) -> np.ndarray:
    """Macro F1 of one confusion matrix, or of each of a batch shaped (..., n, n): the one definition
    behind every macro F1 of the benchmark (the trainer's checks, the tables, the bootstrap)."""
    return per_class_f1(cm).mean(axis=-1)


def macro_f1(y_true, y_pred, n_classes: int = len(CLASSES)) -> float:
    """Unweighted mean of the per-class F1 over all classes 0..n_classes-1."""
    return float(macro_f1_of_counts(confusion_matrix(y_true, y_pred, n_classes)))


def evaluate(y_true, y_pred, n_classes: int = len(CLASSES)) -> dict:
    """Every metric the benchmark reports, as plain JSON-able values."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    recall, precision, f1 = per_class_recall(cm), per_class_precision(cm), per_class_f1(cm)
    present = cm.sum(axis=1) > 0
    names = CLASSES[:n_classes] if n_classes <= len(CLASSES) else [str(i) for i in range(n_classes)]
    return {
        "macro_f1": float(f1.mean()),
        "accuracy": float(np.trace(cm) / cm.sum()) if cm.sum() else 0.0,
        "balanced_accuracy": float(recall[present].mean()) if present.any() else 0.0,
        "recall": dict(zip(names, recall.tolist())),
        "precision": dict(zip(names, precision.tolist())),
        "f1": dict(zip(names, f1.tolist())),
        "confusion_matrix": cm.tolist(),
        "support": dict(zip(names, cm.sum(axis=1).tolist())),
    }
