"""What the evaluations of saved models (``python run_benchmark.py evaluate``) show, as data: prior
correction on the test part, an external test set's per-class scores and tests, and nstdb's noise curves.
``benchmark.reporting.shift_sections`` renders them.

Every test here is a paired bootstrap over records (patients), and seeds when there are several
(``benchmark.metrics.stats``), Holm-adjusted within its family; classes come from the grid's task.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.metrics.comparisons import BOOT_SEED, MARKS, PairedTest, decide
from benchmark.metrics.evaluator import confusion_matrix, per_class_f1, per_class_precision, per_class_recall
from benchmark.reporting.analysis import FEW_TEST_BEATS as MIN_CLASS_BEATS  # fewer: left out of macro F1

NOISE_SENSITIVITY = ("S", "V")  # the arrhythmias of nstdb's records (118: S beats, 119: V beats)


def cells_of(runs: pd.DataFrame, predictions: dict[str, np.ndarray]) -> dict[tuple[str, str], dict[int, np.ndarray]]:
    """{(model, resampler): {seed: predictions}} for the runs that have predictions."""
    cells: dict = {}
    for r in runs.itertuples():
        if r.run_id in predictions:
            cells.setdefault((r.model, r.resampler), {})[r.seed] = predictions[r.run_id]
    return cells


def paired_test(info: dict, y, records, a: dict[int, np.ndarray], b: dict[int, np.ndarray], n_classes: int,
                classes=None) -> PairedTest | None:
    """Cell A against cell B over the seeds both have, for :func:`benchmark.metrics.comparisons.decide`."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    return PairedTest(info, y, [a[s] for s in seeds], [b[s] for s in seeds], records, n_classes,
                      None if classes is None else tuple(classes))


def macro(y, pred, classes, n_classes: int) -> float:
    return float(per_class_f1(confusion_matrix(y, pred, n_classes))[list(classes)].mean())


# ---------------------------------------------------------------------- prior correction

DECISIONS = ("as trained", "prior-corrected")


@dataclass
class PriorCorrection:
    """Each re-weighted cell's macro F1 as trained, prior-corrected and without resampling, and the verdicts
    of both against none (Holm within each decision's comparisons)."""

    rows: list[dict]  # model, resampler, as_trained, corrected, none, verdicts {decision: (difference, verdict)}
    tests: pd.DataFrame
    seeds: int
    records: np.ndarray


def prior_correction(g, evaluation) -> PriorCorrection | None:
    if evaluation is None:
        return None
    y, records, _, corrected = evaluation
    n = g.task.n_classes
    scored = g.score.classes or tuple(range(n))  # the classes of the grid's primary score
    raw, fixed = cells_of(g.runs, g.predictions), cells_of(g.runs, corrected)
    tested = []
    for (model, resampler), preds in fixed.items():
        base = raw.get((model, "none"))
        if base is None:
            continue
        for label, cell in (("as trained", raw[(model, resampler)]), ("prior-corrected", preds)):
            test = paired_test({"model": model, "resampler": resampler, "decision": label}, y, records, cell, base, n,
                               classes=g.score.classes)
            if test:
                tested.append(test)
    # one Holm family per decision, the same comparisons in each, so the two columns' verdicts are alike
    seed = getattr(g, "boot_seed", BOOT_SEED)
    families = [decide(family, seed) for d in DECISIONS if (family := [t for t in tested if t.info["decision"] == d])]
    tests = pd.concat(families, ignore_index=True) if families else pd.DataFrame()
    f1 = lambda cell: float(np.mean([macro(y, p, scored, n) for p in cell.values()]))  # noqa: E731
    rows = []
    for (model, resampler), preds in fixed.items():
        if (model, "none") not in raw:
            continue
        verdicts = {t.decision: (t.difference, t.verdict) for t in tests.itertuples()
                    if t.model == model and t.resampler == resampler}
        rows.append({"model": model, "resampler": resampler, "as_trained": f1(raw[(model, resampler)]),
                     "corrected": f1(preds), "none": f1(raw[(model, "none")]), "verdicts": verdicts})
    if not rows:
        return None
    return PriorCorrection(rows, tests, max(len(c) for c in fixed.values()), records)


# ---------------------------------------------------------------------- external test set

def kept_classes(y: np.ndarray, task) -> list[int]:
    """The task's reported classes with enough beats in a test set to weigh in its macro F1."""
    counts = np.bincount(y, minlength=task.n_classes)
    return [i for i, c in enumerate(task.classes) if c in task.reported and counts[i] >= MIN_CLASS_BEATS]


def shifted_scores(g, evaluation) -> dict[tuple[str, str], float]:
    """{(model, resampler): macro F1 over :func:`kept_classes`, mean over seeds} on an evaluated test set."""
    if evaluation is None:
        return {}
    y, _, _, predictions = evaluation
    kept = kept_classes(y, g.task)
    return {cell: float(np.mean([macro(y, p, kept, g.task.n_classes) for p in preds.values()]))
            for cell, preds in cells_of(g.runs, predictions).items()}


@dataclass
class ExternalScores:
    """A grid's saved models on an external test set: per-cell Se / +P per class and macro F1 over the kept
    classes, the record-level verdicts against none, and each model's best treatment there and on the test part."""

    n_beats: int
    n_records: int
    counts: np.ndarray  # beats per class
    kept: list[int]  # the classes macro F1 averages over
    rows: list[dict]  # model, resampler, f1, se (per class), ppv (per class), mark
    verdicts: pd.DataFrame
    seeds: int
    records: np.ndarray
    best: dict[str, tuple[str, str]]  # model -> (best resampler here, best on the test part)


def external_scores(g, evaluation) -> ExternalScores | None:
    if evaluation is None:
        return None
    y, records, _, predictions = evaluation
    n = g.task.n_classes
    counts = np.bincount(y, minlength=n)
    kept = kept_classes(y, g.task)
    cells = cells_of(g.runs, predictions)
    rows, tests = [], []
    for (model, resampler), preds in cells.items():
        cms = [confusion_matrix(y, p, n) for p in preds.values()]
        rows.append({"model": model, "resampler": resampler,
                     "f1": float(np.mean([per_class_f1(cm)[kept].mean() for cm in cms])),
                     "se": np.mean([per_class_recall(cm) for cm in cms], axis=0),
                     "ppv": np.mean([per_class_precision(cm) for cm in cms], axis=0)})
        base = cells.get((model, "none"))
        if resampler != "none" and base is not None:
            test = paired_test({"model": model, "resampler": resampler}, y, records, preds, base, n, classes=kept)
            if test:
                tests.append(test)
    verdicts = decide(tests, getattr(g, "boot_seed", BOOT_SEED))
    marks = {(t.model, t.resampler): MARKS.get(t.verdict, "") for t in verdicts.itertuples()}
    for r in rows:
        r["mark"] = marks.get((r["model"], r["resampler"]), "")
    best = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        here = max((r for r in rows if r["model"] == model), key=lambda r: r["f1"])["resampler"]
        there = g.summary[g.summary.model == model]
        if len(there):
            best[model] = (here, there.sort_values("score_mean", ascending=False).iloc[0].resampler)
    return ExternalScores(len(y), len(set(records)), counts, kept, rows, verdicts,
                          max((len(c) for c in cells.values()), default=1), records, best)


# ---------------------------------------------------------------------- noise stress

def noise_classes(y, samples, task) -> list[int]:
    """The task's reported classes with at least MIN_CLASS_BEATS beats in nstdb's noisy segments (else any)."""
    from benchmark.data.external import in_noise

    counts = np.bincount(y[in_noise(samples)], minlength=task.n_classes)
    return [i for i, c in enumerate(task.classes) if c in task.reported and counts[i] >= MIN_CLASS_BEATS] \
        or [i for i, c in enumerate(task.classes) if c in task.reported and counts[i] > 0]


def sensitivity_classes(task) -> list[str]:
    """The classes whose sensitivity a noise curve reports: S and V where the task has them, else its
    reported classes after the first (the normal one)."""
    return [c for c in task.classes if c in NOISE_SENSITIVITY] or list(task.reported[1:])


def noise_curves(y, records, samples, preds: dict[int, np.ndarray], classes, task) -> dict:
    """One cell's macro F1 (over ``classes``) and the sensitivity of :func:`sensitivity_classes` at each SNR on
    the noisy segments, and macro F1 on the clean segments (the same beats at every SNR), mean over seeds;
    and its robustness: the area under macro F1 over SNR, normalised by the clean score times the SNR range
    (1: no loss at any SNR)."""
    from benchmark.data.external import in_noise, snr_of

    n = task.n_classes
    snr = np.array([snr_of(r) for r in records])
    noisy = in_noise(samples)
    levels = sorted(set(snr.tolist()))
    se = {c: task.classes.index(c) for c in sensitivity_classes(task)}
    out = {"snr": {}, "se": {c: {} for c in se}}
    per_seed = list(preds.values())
    for level in levels:
        m = noisy & (snr == level)
        cms = [confusion_matrix(y[m], p[m], n) for p in per_seed]
        out["snr"][level] = float(np.mean([per_class_f1(cm)[list(classes)].mean() for cm in cms]))
        for c, i in se.items():
            out["se"][c][level] = float(np.mean([per_class_recall(cm)[i] for cm in cms]))
    clean = ~noisy & (snr == levels[-1])
    cms = [confusion_matrix(y[clean], p[clean], n) for p in per_seed]
    out["clean"] = float(np.mean([per_class_f1(cm)[list(classes)].mean() for cm in cms]))
    x, f = np.array(levels, float), np.array([out["snr"][s] for s in levels])
    area = float(np.sum(np.diff(x) * (f[1:] + f[:-1]) / 2))  # trapezoids between the SNR levels
    out["robustness"] = area / (out["clean"] * (x[-1] - x[0])) if out["clean"] > 0 and len(x) > 1 else float("nan")
    return out


def cell_noise_curves(g, evaluation) -> tuple[list[int], dict[tuple[str, str], dict]]:
    """(the classes scored, {(model, resampler): :func:`noise_curves`}) of an nstdb evaluation; no curves
    when nothing was scored."""
    y, records, samples, predictions = evaluation
    classes = noise_classes(y, samples, g.task)
    cells = cells_of(g.runs, predictions) if classes else {}
    return classes, {cell: noise_curves(y, records, samples, preds, classes, g.task) for cell, preds in cells.items()}


def noisy_scores(g, evaluation) -> tuple[int | None, dict[tuple[str, str], float]]:
    """(lowest SNR, {(model, resampler): macro F1 on nstdb's noisy segments at that SNR}), for the overview."""
    curves = cell_noise_curves(g, evaluation)[1] if evaluation is not None else {}
    if not curves:
        return None, {}
    lowest = min(next(iter(curves.values()))["snr"])
    return lowest, {cell: c["snr"][lowest] for cell, c in curves.items()}
