"""Uncertainty and paired significance for macro F1, as pure functions of arrays.

- :func:`t_interval`: 95% Student-t confidence interval of a mean over seeds (n >= 2).
- :func:`paired_bootstrap`: is the macro-F1 gap between two cells real? With ``groups`` (the record,
  i.e. the patient, of every test beat; the report's default) whole records are resampled with
  replacement, the *same* records for both cells: beats of one patient are not independent, and a
  test that resamples them one by one (``groups=None``) claims far more certainty than the patients
  support. With several seeds the seeds are resampled too (a hierarchical bootstrap: records, and
  the seeds as replicates of training), so training noise is part of the test; with one seed it is
  not, and the report says so. The statistic is the gap averaged over seeds; the p-value is
  two-sided, from the bootstrap distribution shifted to the null (Efron & Tibshirani 1993, §16.4).
  Every p-value comes with its Monte Carlo error (the binomial standard error of the bootstrap's own
  estimate), so a caller can tell a p that is near a threshold by chance of the draw
  (``benchmark.metrics.comparisons.decide`` draws more resamples until none is).
- :func:`holm`: Holm-Bonferroni adjustment of a family of p-values; :func:`holm_with_error` also carries
  each adjusted p's Monte Carlo error.
"""
from __future__ import annotations

import numpy as np

from benchmark.metrics.evaluator import DEFAULT_N_CLASSES, macro_f1_of_counts, per_class_f1

CONFIDENCE = 0.95  # of every interval the benchmark reports (t over seeds, bootstrap percentile)
CHUNK = 50_000  # bootstrap resamples drawn at a time (memory: CHUNK × records weights)


def t_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Student-t interval of the mean; ``None`` with fewer than two values (no interval exists)."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return None
    half = stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def _macro_f1(cm: np.ndarray, classes) -> np.ndarray:
    """Macro F1 of a batch of confusion matrices (..., n, n), over all classes or the given ones."""
    return macro_f1_of_counts(cm) if classes is None else per_class_f1(cm)[..., list(classes)].mean(axis=-1)


def _macro_f1_rows(y_true: np.ndarray, y_pred: np.ndarray, index: np.ndarray, n_classes: int,
                   classes=None) -> np.ndarray:
    """Macro F1 for each row of ``index`` (bootstrap samples of beat positions), vectorised."""
    rows = index.shape[0]
    codes = y_true[index].astype(np.int64) * n_classes + y_pred[index]
    offsets = (np.arange(rows) * n_classes * n_classes)[:, None]
    cm = np.bincount((codes + offsets).ravel(), minlength=rows * n_classes * n_classes)
    return _macro_f1(cm.reshape(rows, n_classes, n_classes), classes)


def _macro_f1_cm(cm: np.ndarray, n_classes: int, classes=None) -> np.ndarray:
    """Macro F1 of each of a batch of flattened confusion matrices, shaped (rows, n_classes²)."""
    return np.atleast_1d(_macro_f1(cm.reshape(-1, n_classes, n_classes), classes))


def _record_index(groups) -> tuple[np.ndarray, int]:
    """Each test beat's record as 0..n_records - 1, and the number of records."""
    _, group_index = np.unique(np.asarray(groups), return_inverse=True)
    return group_index, int(group_index.max()) + 1


def _per_record(group_index, n_groups: int, y_true, pred, n_classes: int) -> np.ndarray:
    """(n_groups, n_classes²): each record's confusion counts, flattened."""
    cells = n_classes * n_classes
    codes = group_index * cells + y_true * n_classes + pred
    return np.bincount(codes, minlength=n_groups * cells).reshape(n_groups, cells).astype(float)


def _record_bootstrap(y_true, groups, preds_a, preds_b, n_boot, seed, n_classes, classes=None) -> dict:
    """Records (and seeds, when several) resampled with replacement; see the module docstring."""
    group_index, n_groups = _record_index(groups)
    n_seeds = len(preds_a)
    cm_a = [_per_record(group_index, n_groups, y_true, p, n_classes) for p in preds_a]
    cm_b = [_per_record(group_index, n_groups, y_true, p, n_classes) for p in preds_b]
    observed = float(np.mean([_macro_f1_cm(a.sum(0), n_classes, classes)[0]
                              - _macro_f1_cm(b.sum(0), n_classes, classes)[0] for a, b in zip(cm_a, cm_b)]))
    rng = np.random.default_rng(seed)
    diffs = []
    for start in range(0, n_boot, CHUNK):  # one chunk draws exactly what a single draw of n_boot did
        size = min(CHUNK, n_boot - start)
        weights = rng.multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=size).astype(float)
        gaps = np.stack([_macro_f1_cm(weights @ a, n_classes, classes) - _macro_f1_cm(weights @ b, n_classes, classes)
                         for a, b in zip(cm_a, cm_b)], axis=1)  # (size, n_seeds)
        if n_seeds > 1:
            seed_counts = rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=size)
            diffs.append((seed_counts * gaps).sum(axis=1) / n_seeds)
        else:
            diffs.append(gaps[:, 0])
    diffs = np.concatenate(diffs)
    return _verdict(observed, diffs, n_boot) | {"n_seeds": n_seeds, "unit": "record", "n_units": int(n_groups)}


def _verdict(observed: float, diffs: np.ndarray, n_boot: int) -> dict:
    p = (1 + np.sum(np.abs(diffs - observed) >= abs(observed))) / (1 + n_boot)
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return {"difference": observed, "ci_low": float(low), "ci_high": float(high), "p_value": float(p),
            "p_mc_error": mc_error(p, n_boot), "n_boot": n_boot}


def mc_error(p: float, n_boot: int) -> float:
    """Monte Carlo standard error of a bootstrap p-value estimated from ``n_boot`` resamples (binomial);
    at the smallest p a count can give, 1 / (n_boot + 1), it is about that p itself."""
    return float(np.sqrt(p * (1 - p) / n_boot))


def paired_bootstrap(y_true, preds_a, preds_b, n_boot: int = 2000, seed: int = 0,
                     n_classes: int = DEFAULT_N_CLASSES, chunk: int = 250, groups=None, classes=None) -> dict:
    """Bootstrap test of mean macro F1 (over seeds) of cell A minus cell B.

    ``preds_a`` / ``preds_b``: one prediction array per seed, paired by seed. ``groups``: the record of
    every test beat, to resample records (and seeds) rather than beats. ``classes``: the class indices
    macro F1 averages over (default: all).
    Returns the observed difference, its 95% percentile interval, the two-sided p-value, and the unit.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    preds_a = [np.asarray(p, dtype=np.int64) for p in preds_a]
    preds_b = [np.asarray(p, dtype=np.int64) for p in preds_b]
    if len(preds_a) != len(preds_b) or not preds_a:
        raise ValueError(f"need the same, non-zero number of seeds for both cells ({len(preds_a)} vs {len(preds_b)})")
    if groups is not None:
        if len(groups) != len(y_true):
            raise ValueError(f"groups has {len(groups)} entries for {len(y_true)} test beats")
        return _record_bootstrap(y_true, groups, preds_a, preds_b, n_boot, seed, n_classes, classes)
    everything = np.arange(len(y_true))[None, :]
    observed = float(np.mean([_macro_f1_rows(y_true, a, everything, n_classes, classes)[0]
                              - _macro_f1_rows(y_true, b, everything, n_classes, classes)[0]
                              for a, b in zip(preds_a, preds_b)]))
    rng = np.random.default_rng(seed)
    diffs = []
    for start in range(0, n_boot, chunk):
        index = rng.integers(0, len(y_true), size=(min(chunk, n_boot - start), len(y_true)))
        diffs.append(np.mean([_macro_f1_rows(y_true, a, index, n_classes, classes)
                              - _macro_f1_rows(y_true, b, index, n_classes, classes)
                              for a, b in zip(preds_a, preds_b)], axis=0))
    diffs = np.concatenate(diffs)
    return _verdict(observed, diffs, n_boot) | {"n_seeds": len(preds_a), "unit": "beat", "n_units": len(y_true)}


def record_interval(y_true, y_pred, groups, metric, n_classes: int, n_boot: int = 2000, seed: int = 0,
                    confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """One run's ``metric`` (a function of a batch of confusion matrices (b, n, n) -> (b,)) and its
    percentile interval over ``n_boot`` resamples of the test records (``groups``; the patients), with
    replacement: (observed, low, high). Seeded, so the same run gives the same interval."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if len(groups) != len(y_true) or len(y_pred) != len(y_true):
        raise ValueError(f"{len(y_true)} test beats, {len(y_pred)} predictions and {len(groups)} records given")
    group_index, n_groups = _record_index(groups)
    per_record = _per_record(group_index, n_groups, y_true, y_pred, n_classes)
    observed = float(metric(per_record.sum(0).reshape(1, n_classes, n_classes))[0])
    rng = np.random.default_rng(seed)
    values = []
    for start in range(0, n_boot, CHUNK):
        size = min(CHUNK, n_boot - start)
        weights = rng.multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=size).astype(float)
        values.append(metric((weights @ per_record).reshape(size, n_classes, n_classes)))
    values = np.concatenate(values)
    tail = 100 * (1 - confidence) / 2
    return observed, float(np.nanpercentile(values, tail)), float(np.nanpercentile(values, 100 - tail))


def holm_with_error(p_values, errors) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Holm-adjusted p-values, each one's Monte Carlo error, and the index of the raw p it comes from:
    an adjusted p is (m − rank) × one raw p (the largest of those ranked before it), so its error is that
    multiple of that p's error."""
    p, err = np.asarray(p_values, dtype=float), np.asarray(errors, dtype=float)
    order = np.argsort(p, kind="stable")
    adjusted, adjusted_err, source = np.empty_like(p), np.empty_like(p), np.empty(len(p), dtype=int)
    running, running_err, running_source = 0.0, 0.0, -1
    for rank, i in enumerate(order):
        scaled = (len(p) - rank) * p[i]
        if scaled >= running:
            running, running_err, running_source = scaled, (len(p) - rank) * err[i], i
        # capped at 1, an adjusted p well above 1 is exactly 1 whatever the draw
        capped_err = running_err if running < 1 else max(0.0, min(running_err, 1 - (running - running_err)))
        adjusted[i], adjusted_err[i], source[i] = min(1.0, running), capped_err, running_source
    return adjusted, adjusted_err, source


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
