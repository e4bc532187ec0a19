"""Uncertainty and paired significance for macro F1, as pure functions of arrays.

- :func:`t_interval`: 95% Student-t confidence interval of a mean over seeds (n >= 2).
- :func:`paired_bootstrap`: is the macro-F1 gap between two cells real? Test beats are resampled
  with replacement, the *same* beats for both cells and for every seed (the runs share one test
  part), and the statistic is the gap averaged over seeds. Its power comes from the ~20k test
  beats, so it works with a single seed; with several seeds it also averages out training noise.
  The p-value is two-sided, from the bootstrap distribution shifted to the null (Efron &
  Tibshirani 1993, §16.4).
- :func:`holm`: Holm-Bonferroni adjustment of a family of p-values.
"""
from __future__ import annotations

import numpy as np

from benchmark.beats import CLASSES


def t_interval(values, confidence: float = 0.95) -> tuple[float, float] | None:
    """Student-t interval of the mean; ``None`` with fewer than two values (no interval exists)."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return None
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def _macro_f1_rows(y_true: np.ndarray, y_pred: np.ndarray, index: np.ndarray, n_classes: int) -> np.ndarray:
    """Macro F1 for each row of ``index`` (bootstrap samples of beat positions), vectorised."""
    rows = index.shape[0]
    codes = y_true[index].astype(np.int64) * n_classes + y_pred[index]
    offsets = (np.arange(rows) * n_classes * n_classes)[:, None]
    cm = np.bincount((codes + offsets).ravel(), minlength=rows * n_classes * n_classes)
    cm = cm.reshape(rows, n_classes, n_classes).astype(float)
    tp = np.diagonal(cm, axis1=1, axis2=2)
    denom = cm.sum(axis=1) + cm.sum(axis=2)  # (tp + fp) + (tp + fn)
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return f1.mean(axis=1)


def paired_bootstrap(y_true, preds_a, preds_b, n_boot: int = 2000, seed: int = 0,
                     n_classes: int = len(CLASSES), chunk: int = 250) -> dict:
    """Bootstrap test of mean macro F1 (over seeds) of cell A minus cell B.

    ``preds_a`` / ``preds_b``: one prediction array per seed, paired by seed.
    Returns the observed difference, its 95% percentile interval and the two-sided p-value.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    preds_a = [np.asarray(p, dtype=np.int64) for p in preds_a]
    preds_b = [np.asarray(p, dtype=np.int64) for p in preds_b]
    if len(preds_a) != len(preds_b) or not preds_a:
        raise ValueError(f"need the same, non-zero number of seeds for both cells ({len(preds_a)} vs {len(preds_b)})")
    everything = np.arange(len(y_true))[None, :]
    observed = float(np.mean([_macro_f1_rows(y_true, a, everything, n_classes)[0]
                              - _macro_f1_rows(y_true, b, everything, n_classes)[0]
                              for a, b in zip(preds_a, preds_b)]))
    rng = np.random.default_rng(seed)
    diffs = []
    for start in range(0, n_boot, chunk):
        index = rng.integers(0, len(y_true), size=(min(chunk, n_boot - start), len(y_true)))
        diffs.append(np.mean([_macro_f1_rows(y_true, a, index, n_classes) - _macro_f1_rows(y_true, b, index, n_classes)
                              for a, b in zip(preds_a, preds_b)], axis=0))
    diffs = np.concatenate(diffs)
    p = (1 + np.sum(np.abs(diffs - observed) >= abs(observed))) / (1 + n_boot)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return {"difference": observed, "ci_low": float(low), "ci_high": float(high), "p_value": float(p),
            "n_boot": n_boot, "n_seeds": len(preds_a)}


def holm(p_values) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (same order as given), monotone and capped at 1."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (len(p) - rank) * p[i])
        adjusted[i] = min(1.0, running)
    return adjusted
