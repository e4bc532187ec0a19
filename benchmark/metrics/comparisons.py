"""Which cells the report tests against which, and the verdicts (pure; no I/O).

Two families, adjusted together with Holm-Bonferroni:
- for each model, every resampler against ``none`` (does resampling help this model?);
- for each resampler, the best model against every other model, "best" by mean *validation* macro F1
  (chosen on the test part, then tested on it, the winner would be favoured by its own selection).
Each comparison is a paired bootstrap over the shared test part, paired by seed
(:func:`benchmark.metrics.stats.paired_bootstrap`): over records (patients), and seeds when there are several,
when the record of every test beat is known; over beats otherwise.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.metrics.evaluator import DEFAULT_N_CLASSES
from benchmark.metrics.stats import holm, paired_bootstrap

ALPHA = 0.05  # family-wise error rate of the Holm-adjusted tests
MARKS = {"gain": " ▲", "loss": " ▼"}  # how a table marks a significant verdict
N_BOOT = 2000  # bootstrap resamples per comparison


def _cell(runs: pd.DataFrame, model: str, resampler: str) -> pd.DataFrame:
    return runs[(runs.model == model) & (runs.resampler == resampler)].sort_values("seed")


def compare_cells(runs: pd.DataFrame, summary: pd.DataFrame, predictions: dict[str, np.ndarray],
                  y_true: np.ndarray, models, resamplers, n_boot: int = N_BOOT,
                  groups: np.ndarray | None = None, n_classes: int = DEFAULT_N_CLASSES) -> pd.DataFrame:
    """One row per comparison: cells A and B, the macro-F1 difference A − B, its bootstrap 95%
    interval, raw and Holm-adjusted p-values, and the verdict ('gain', 'loss' or 'no evidence');
    ``n_classes``: the task's, which macro F1 averages over."""
    pairs = []
    if "none" in resamplers:
        pairs += [("resampler vs none", (m, r), (m, "none")) for m in models for r in resamplers if r != "none"]
    for r in resamplers:
        cells = summary[summary.resampler == r]
        if len(cells) > 1:
            best = cells.sort_values("best_val_macro_f1_mean", ascending=False).iloc[0].model
            pairs += [("best model vs other", (best, r), (m, r)) for m in cells.model if m != best]
    rows = []
    for family, a, b in pairs:
        cell_a, cell_b = _cell(runs, *a), _cell(runs, *b)
        seeds = sorted(set(cell_a.seed) & set(cell_b.seed))
        if not seeds:
            continue
        pick = lambda cell: [predictions[i] for i in cell[cell.seed.isin(seeds)].run_id]  # noqa: E731
        result = paired_bootstrap(y_true, pick(cell_a), pick(cell_b), n_boot=n_boot, groups=groups, n_classes=n_classes)
        rows.append({"family": family, "model_a": a[0], "resampler_a": a[1], "model_b": b[0],
                     "resampler_b": b[1], **result})
    return holm_verdicts(rows)


def holm_verdicts(rows: list[dict]) -> pd.DataFrame:
    """A family of paired tests (rows with ``p_value`` and ``difference``) as a table, with Holm-adjusted
    p-values and the verdict of each: 'gain', 'loss' or 'no evidence'."""
    table = pd.DataFrame(rows)
    if len(table):
        table["p_holm"] = holm(table.p_value)
        table["verdict"] = np.where(table.p_holm >= ALPHA, "no evidence",
                                    np.where(table.difference > 0, "gain", "loss"))
    return table
