"""Average ranks of a grid's treatments, as a description (no test).

Two analyses per grid, both on each run's test macro F1 (rank 1 = the highest):
- resamplers ranked within each (model, seed) block: which resampler tends to do best, whatever the model;
- models ranked within each (resampler, seed) block: which model tends to do best, whatever the resampler.

The blocks of one grid are not independent data sets: every block is scored on the same test beats, so
a Friedman test and Nemenyi's critical difference (Demšar 2006) across them would treat one test set as
many. The ranks therefore describe, and the record-level paired tests (``comparisons``) decide. A block
needs a run of every treatment; blocks missing one are dropped and counted.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class RankAnalysis:
    """The average ranks of one kind of treatment; ``reason`` is set (and nothing else) when there are none."""

    treatment: str  # what is ranked: "resampler" or "model"
    block: str  # what it is ranked within, e.g. "(model, seed)"
    n_blocks: int  # complete blocks, the ones used
    n_incomplete: int  # blocks dropped because some treatment has no run in them
    mean_ranks: dict[str, float] = field(default_factory=dict)  # best first
    reason: str = ""

    @property
    def computed(self) -> bool:
        return not self.reason


def describe_ranks(runs: pd.DataFrame, treatment: str, treatments: list[str], score: str = "macro_f1") -> RankAnalysis:
    """Average ranks of ``treatments`` (the values of column ``treatment``: "model" or "resampler") by the
    test score in column ``score`` (default macro F1) within blocks of the other column and the seed; ties
    share the mean rank."""
    other = {"model": "resampler", "resampler": "model"}[treatment]
    block = f"({other}, seed)"
    table = (runs.pivot(index=[other, "seed"], columns=treatment, values=score).reindex(columns=list(treatments))
             if len(runs) else pd.DataFrame(columns=list(treatments)))
    complete = table.dropna()
    n_blocks, n_incomplete = len(complete), len(table) - len(complete)
    if len(treatments) < 2 or not n_blocks:
        reason = (f"{len(treatments)} {treatment}(s)" if len(treatments) < 2 else
                  f"no block has a run of every {treatment}")
        return RankAnalysis(treatment, block, n_blocks, n_incomplete, reason=reason)
    ranks = complete.rank(axis=1, ascending=False, method="average").mean()
    order = {name: i for i, name in enumerate(treatments)}  # ties keep the grid's order
    mean_ranks = dict(sorted(((str(k), float(v)) for k, v in ranks.items()), key=lambda kv: (kv[1], order[kv[0]])))
    return RankAnalysis(treatment, block, n_blocks, n_incomplete, mean_ranks)


def rank_analyses(runs: pd.DataFrame, models: list[str], resamplers: list[str],
                  score: str = "macro_f1") -> dict[str, RankAnalysis]:
    """Both analyses of a grid, keyed by what they rank, by the test score in column ``score``."""
    return {"resampler": describe_ranks(runs, "resampler", resamplers, score),
            "model": describe_ranks(runs, "model", models, score)}
