"""Which cells the report tests against which, and the verdicts (pure; no I/O).

Two families, adjusted together with Holm-Bonferroni:
- for each model, every resampler against ``none`` (does resampling help this model?);
- for each resampler, the best model against every other model, "best" by mean *validation* macro F1
  (chosen on the test part, then tested on it, the winner would be favoured by its own selection).
Each comparison is a paired bootstrap over the shared test part, paired by seed
(:func:`benchmark.metrics.stats.paired_bootstrap`): over records (patients), and seeds when there are several,
when the record of every test beat is known; over beats otherwise.

A verdict must not depend on the bootstrap's draw. :func:`decide` starts every test at ``N_BOOT``
resamples and, while any Holm-adjusted p lies within ``MC_MARGIN`` Monte Carlo errors of α, draws four
times as many for the tests that p comes from (up to ``MAX_BOOT``): with 2,000 resamples the smallest p
is 1/2,001, so in a family of 38 the smallest adjusted p is about 0.019 and a verdict near α could flip
from one draw to the next. A verdict still within the margin at ``MAX_BOOT`` is "undecided" (never a mark).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchmark.metrics.evaluator import DEFAULT_N_CLASSES
from benchmark.metrics.stats import holm_with_error, paired_bootstrap

ALPHA = 0.05  # family-wise error rate of the Holm-adjusted tests
MARKS = {"gain": " ▲", "loss": " ▼"}  # how a table marks a significant verdict
N_BOOT = 2000  # bootstrap resamples every comparison starts with
MAX_BOOT = 512_000  # the most a comparison near α is given
MC_MARGIN = 4.0  # Monte Carlo errors an adjusted p must lie from α for its verdict to stand
BOOT_SEED = 0  # the bootstrap's seed (tests/test_committed_results.py redraws with others: same verdicts)


@dataclass
class PairedTest:
    """One comparison of a family: what it compares (``info``: the table's columns) and the arrays its
    paired bootstrap runs on, so that :func:`decide` can redraw it with more resamples."""

    info: dict
    y_true: np.ndarray
    preds_a: list
    preds_b: list
    groups: np.ndarray | None = None
    n_classes: int = DEFAULT_N_CLASSES
    classes: tuple | None = None
    result: dict = field(default_factory=dict)

    def run(self, n_boot: int, seed: int) -> dict:
        self.result = paired_bootstrap(self.y_true, self.preds_a, self.preds_b, n_boot=n_boot, seed=seed,
                                       groups=self.groups, n_classes=self.n_classes, classes=self.classes)
        return self.result


def decide(tests: list[PairedTest], seed: int = BOOT_SEED, n_boot: int = N_BOOT,
           max_boot: int = MAX_BOOT) -> pd.DataFrame:
    """The family's table with Holm-adjusted p-values, their Monte Carlo errors and verdicts that no draw
    of the bootstrap would change (see the module docstring)."""
    for t in tests:
        t.run(n_boot, seed)
    while tests:
        p = np.array([t.result["p_value"] for t in tests])
        err = np.array([t.result["p_mc_error"] for t in tests])
        adjusted, adjusted_err, source = holm_with_error(p, err)
        near = np.abs(adjusted - ALPHA) < MC_MARGIN * adjusted_err
        multiple = np.empty(len(p))
        multiple[np.argsort(p, kind="stable")] = np.arange(len(p), 0, -1)  # Holm's m − rank of each raw p
        own_near = np.abs(multiple * p - ALPHA) < MC_MARGIN * multiple * err
        refine = {int(source[i]) for i in np.flatnonzero(near)} | set(np.flatnonzero(own_near).tolist())
        refine = [i for i in sorted(refine) if tests[i].result["n_boot"] < max_boot]
        if not refine:
            break
        for i in refine:
            tests[i].run(min(max_boot, 4 * tests[i].result["n_boot"]), seed)
    return holm_verdicts([{**t.info, **t.result} for t in tests])


def _cell(runs: pd.DataFrame, model: str, resampler: str) -> pd.DataFrame:
    return runs[(runs.model == model) & (runs.resampler == resampler)].sort_values("seed")


def compare_cells(runs: pd.DataFrame, summary: pd.DataFrame, predictions: dict[str, np.ndarray],
                  y_true: np.ndarray, models, resamplers, n_boot: int = N_BOOT,
                  groups: np.ndarray | None = None, n_classes: int = DEFAULT_N_CLASSES,
                  seed: int = BOOT_SEED, classes: tuple[int, ...] | None = None) -> pd.DataFrame:
    """One row per comparison: cells A and B, the macro-F1 difference A − B, its bootstrap 95%
    interval, raw and Holm-adjusted p-values, and the verdict ('gain', 'loss' or 'no evidence');
    ``n_classes``: the task's; ``classes``: the class indices macro F1 averages over (default: all)."""
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
        rows.append(PairedTest({"family": family, "model_a": a[0], "resampler_a": a[1], "model_b": b[0],
                                "resampler_b": b[1]}, y_true, pick(cell_a), pick(cell_b), groups, n_classes,
                                classes))
    return decide(rows, seed, n_boot)


def holm_verdicts(rows: list[dict]) -> pd.DataFrame:
    """A family of paired tests (rows with ``p_value``, its ``p_mc_error`` and ``difference``) as a table,
    with Holm-adjusted p-values, their Monte Carlo errors and the verdict of each: 'gain', 'loss', 'no
    evidence', or 'undecided' when the adjusted p lies within ``MC_MARGIN`` errors of α."""
    table = pd.DataFrame(rows)
    if len(table):
        errors = table["p_mc_error"] if "p_mc_error" in table else np.zeros(len(table))
        table["p_holm"], table["p_holm_mc_error"], _ = holm_with_error(table.p_value, errors)
        undecided = np.abs(table.p_holm - ALPHA) < MC_MARGIN * table.p_holm_mc_error
        table["verdict"] = np.where(undecided, "undecided", np.where(
            table.p_holm >= ALPHA, "no evidence", np.where(table.difference > 0, "gain", "loss")))
    return table
