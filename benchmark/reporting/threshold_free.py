"""Threshold-free scores: each class's AUPRC and AUROC (one against the rest) from the runs' stored test
probabilities, beside the decisions at the argmax. A treatment that only moved the decision threshold changes
recall, not these; one that taught the model something changes them too (#39)."""
from __future__ import annotations

import numpy as np
import pandas as pd

CSV = "threshold_free.csv"


def threshold_free_scores(g) -> pd.DataFrame:
    """One row per run and class present in the test part with another: AUROC, AUPRC and the class's prevalence
    (AUPRC's chance level). Runs stored without probabilities have no rows."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(g.y_true)
    rows = []
    for run in g.runs.itertuples():
        proba = g.store.probabilities(run.run_id)
        if proba is None:
            continue
        proba = np.asarray(proba, dtype=np.float64)
        for i, c in enumerate(g.task.classes):
            positive = y == i
            if not positive.any() or positive.all():
                continue
            rows.append({"run_id": run.run_id, "model": run.model, "resampler": run.resampler, "seed": int(run.seed),
                         "class": c,
                         "auroc": roc_auc_score(positive, proba[:, i]),
                         "auprc": average_precision_score(positive, proba[:, i]), "prevalence": positive.mean()})
    return pd.DataFrame(rows, columns=["run_id", "model", "resampler", "seed", "class", "auroc", "auprc",
                                       "prevalence"])


def threshold_free_section(g, scores: pd.DataFrame) -> list[str]:
    """The report's section: per cell, each class's AUPRC (and AUROC), mean over seeds."""
    from tabulate import tabulate

    if not len(scores):
        return []
    classes = [c for c in g.task.classes if c in set(scores["class"])]
    cells = scores.groupby(["model", "resampler", "class"], sort=False)[["auroc", "auprc"]].mean()
    order = [(m, r) for m in g.models for r in g.resamplers if (m, r, classes[0]) in cells.index]
    rows = [[m, r, *[f"{cells.loc[(m, r, c), 'auprc']:.3f} / {cells.loc[(m, r, c), 'auroc']:.3f}"
                     if (m, r, c) in cells.index else "n/a" for c in classes]] for m, r in order]
    prevalence = scores.groupby("class")["prevalence"].first()
    missing = len(g.runs) - scores.run_id.nunique()
    lines = ["## Threshold-free scores", "",
             "Each class against the rest, from the stored test probabilities: AUPRC / AUROC, mean over seeds. "
             "They do not depend on where the decision threshold sits, so a treatment that only moved it (as "
             "oversampling and loss weights move the prior a model trains under) changes the recall above but "
             "not these; one that taught the model more about a class raises them. AUPRC's chance level is the "
             "class's share of the test beats: " + ", ".join(f"{c} {prevalence[c]:.4f}" for c in classes) + ".", "",
             tabulate(rows, headers=["model", "resampler", *classes], tablefmt="github", disable_numparse=True), ""]
    if missing:
        lines += [f"{missing} run(s) were stored without probabilities and are not in this table.", ""]
    return lines
