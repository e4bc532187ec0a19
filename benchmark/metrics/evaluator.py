"""Classification metrics as pure functions of label arrays (no Keras, no I/O).

Labels are fixed to 0..n_classes-1, so a class absent from a test part still has its row and
column; a ratio with a zero denominator is 0 (scikit-learn's ``zero_division=0``). The number of classes
comes from the caller (a task's ``n_classes``); without one it is the five AAMI classes, the benchmark's
first task.
"""
from __future__ import annotations

import numpy as np

from benchmark.tasks import AAMI_CLASSES

DEFAULT_N_CLASSES = len(AAMI_CLASSES)


def confusion_matrix(y_true, y_pred, n_classes: int = DEFAULT_N_CLASSES) -> np.ndarray:
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


def macro_f1(y_true, y_pred, n_classes: int = DEFAULT_N_CLASSES) -> float:
    """Unweighted mean of the per-class F1 over all classes 0..n_classes-1."""
    return float(macro_f1_of_counts(confusion_matrix(y_true, y_pred, n_classes)))


def evaluate(y_true, y_pred, n_classes: int | None = None, classes=None) -> dict:
    """Every metric the benchmark reports, as plain JSON-able values, per class keyed by ``classes`` (the
    task's class names; without them the AAMI names for up to five classes, else the labels)."""
    if classes is not None:
        classes = [str(c) for c in classes]
        if n_classes is not None and n_classes != len(classes):
            raise ValueError(f"n_classes {n_classes} and {len(classes)} class names {classes} disagree")
        n_classes = len(classes)
    n_classes = DEFAULT_N_CLASSES if n_classes is None else n_classes
    cm = confusion_matrix(y_true, y_pred, n_classes)
    recall, precision, f1 = per_class_recall(cm), per_class_precision(cm), per_class_f1(cm)
    present = cm.sum(axis=1) > 0
    names = classes or (list(AAMI_CLASSES[:n_classes]) if n_classes <= len(AAMI_CLASSES)
                        else [str(i) for i in range(n_classes)])
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


def auroc(y_true, scores) -> float | None:
    """Area under the ROC curve of ``scores`` for label 1 against label 0: the Mann-Whitney statistic from
    average ranks (tied scores share their mean rank, i.e. count half); None with only one label present."""
    y = np.asarray(y_true) == 1
    scores = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return None
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)  # the 1-based rank of each distinct score's last occurrence
    ranks = (upper - (counts - 1) / 2)[inverse]
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def binary_metrics(y_true, probabilities, y_pred) -> dict:
    """A two-class task's own metrics: sensitivity (recall of label 1, the abnormal beats), specificity
    (recall of label 0) and AUROC from label 1's probability (None when the run kept no probabilities)."""
    recall = per_class_recall(confusion_matrix(y_true, y_pred, 2))
    score = None if probabilities is None else auroc(y_true, np.asarray(probabilities)[:, 1])
    return {"sensitivity": float(recall[1]), "specificity": float(recall[0]), "auroc": score}


def metric_of(column: str, classes: tuple[str, ...]):
    """The function of a batch of confusion matrices (b, n, n) that computes a run-table ``column``."""
    def ratio(num, den):
        return np.divide(num, den, out=np.full_like(num, np.nan), where=den > 0)

    if column == "macro_f1":
        return macro_f1_of_counts
    if column == "weighted_f1":  # each class's F1 weighted by its share of the test beats
        return lambda cm: (per_class_f1(cm) * cm.sum(axis=2)).sum(axis=1) / cm.sum(axis=(1, 2))
    if column == "accuracy":
        return lambda cm: ratio(np.trace(cm, axis1=1, axis2=2), cm.sum(axis=(1, 2)))
    if column.startswith("recall_") and column[len("recall_"):] in classes:
        i = classes.index(column[len("recall_"):])
        return lambda cm: ratio(cm[:, i, i], cm[:, i, :].sum(axis=1))
    raise KeyError(f"no reading of {column!r} for classes {', '.join(classes)}")
