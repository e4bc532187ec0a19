"""Average ranks, and for independent blocks the Friedman test and Nemenyi critical difference (Demšar
2006), computed with autorank.

The blocks of one grid are not independent data sets: every (model, seed) block is scored on the same
test beats, so a Friedman test across them would treat one test set as many. A grid's report therefore
shows the average ranks as a description (:func:`describe_ranks`); :func:`rank_treatments` tests them,
for blocks that are independent data sets.

Two analyses per grid, both on each run's test macro F1 (rank 1 = the highest):
- resamplers ranked within each (model, seed) block: which resampler tends to do best, whatever the model;
- models ranked within each (resampler, seed) block: which model tends to do best, whatever the resampler.

The nonparametric path is forced (Friedman omnibus test, Nemenyi post-hoc test) instead of letting
autorank pick ANOVA + Tukey from normality tests that a handful of blocks cannot support; ranks also
put blocks on one scale, although different models reach very different macro F1. A block needs a
run of every treatment; blocks missing one are dropped and counted. With too few blocks or
treatments nothing is computed and :attr:`RankAnalysis.reason` says why.
"""
from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass, field

import pandas as pd

ALPHA = 0.05
MIN_BLOCKS = 5  # autorank refuses fewer ("requires at least five performance estimations")
MIN_TREATMENTS = 3  # Friedman compares three or more; autorank would test two with Wilcoxon instead
TESTS = {"friedman": "Friedman", "nemenyi": "Nemenyi"}


@dataclass(frozen=True)
class RankAnalysis:
    """The ranking of one kind of treatment; ``reason`` is set (and nothing else) when it was not possible."""

    treatment: str  # what is ranked: "resampler" or "model"
    block: str  # what it is ranked within, e.g. "(model, seed)"
    n_blocks: int  # complete blocks, the ones used
    n_incomplete: int  # blocks dropped because some treatment has no run in them
    mean_ranks: dict[str, float] = field(default_factory=dict)  # best first
    p_value: float | None = None  # of the omnibus test
    cd: float | None = None  # critical difference of the post-hoc test at ``alpha``
    test: str = ""  # e.g. "Friedman test, Nemenyi post-hoc"
    alpha: float = ALPHA
    reason: str = ""
    result: object = field(default=None, repr=False, compare=False)  # autorank's RankResult, for the diagram

    @property
    def computed(self) -> bool:
        return not self.reason

    @property
    def significant(self) -> bool:
        """The omnibus test rejects "all treatments rank alike" (a NaN p-value, every block tied, does not)."""
        return self.p_value is not None and self.p_value < self.alpha

    def different_pairs(self) -> list[tuple[str, str]]:
        """(better, worse) pairs whose average ranks differ by more than the critical difference;
        empty unless the omnibus test is significant (Demšar: no post-hoc test otherwise)."""
        if not self.significant:
            return []
        names = list(self.mean_ranks)
        return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]
                if self.mean_ranks[b] - self.mean_ranks[a] > self.cd]


def rank_treatments(runs: pd.DataFrame, treatment: str, treatments: list[str], alpha: float = ALPHA) -> RankAnalysis:
    """Rank ``treatments`` (the values of column ``treatment``: "model" or "resampler") by test macro F1
    within blocks of the other column and the seed; ``runs`` as :func:`benchmark.reporting.report.load_runs` gives."""
    other = {"model": "resampler", "resampler": "model"}[treatment]
    block = f"({other}, seed)"
    if len(runs):
        table = runs.pivot(index=[other, "seed"], columns=treatment, values="macro_f1")
        table = table.reindex(columns=list(treatments))
        complete = table.dropna()
    else:
        table = complete = pd.DataFrame(columns=list(treatments))
    n_blocks, n_incomplete = len(complete), len(table) - len(complete)
    dropped = f" ({n_incomplete} more lack a run of some {treatment})" if n_incomplete else ""
    if len(treatments) < MIN_TREATMENTS:
        reason = f"{len(treatments)} {treatment}s; ranking them needs at least {MIN_TREATMENTS}"
    elif n_blocks < MIN_BLOCKS:
        reason = (f"{n_blocks} complete {block} blocks{dropped}; the Friedman test needs at least "
                  f"{MIN_BLOCKS} (autorank's minimum)")
        if n_blocks and not n_incomplete:
            reason += f"; each further seed adds one block per {other}"
    else:
        reason = ""
    if reason:
        return RankAnalysis(treatment, block, n_blocks, n_incomplete, alpha=alpha, reason=reason)

    from autorank import autorank

    # autorank prints its result table and the forced mode; its normality checks may warn on tiny or
    # constant columns, and the forced mode ignores them
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", (UserWarning, RuntimeWarning))
        result = autorank(complete.reset_index(drop=True), alpha=alpha, verbose=False, order="descending",
                          force_mode="nonparametric")
    order = {name: i for i, name in enumerate(treatments)}  # ties keep the grid's order
    mean_ranks = dict(sorted(((str(k), float(v)) for k, v in result.rankdf.meanrank.items()),
                             key=lambda kv: (kv[1], order[kv[0]])))
    return RankAnalysis(treatment, block, n_blocks, n_incomplete, mean_ranks, float(result.pvalue),
                        float(result.cd), f"{TESTS[result.omnibus]} test, {TESTS[result.posthoc]} post-hoc",
                        alpha, result=result)


def describe_ranks(runs: pd.DataFrame, treatment: str, treatments: list[str]) -> RankAnalysis:
    """Average ranks of ``treatments`` within blocks of the other column and the seed, with no test: for
    blocks that are not independent data sets (every block of a grid is scored on the same test beats)."""
    other = {"model": "resampler", "resampler": "model"}[treatment]
    block = f"({other}, seed)"
    table = (runs.pivot(index=[other, "seed"], columns=treatment, values="macro_f1").reindex(columns=list(treatments))
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
                  tested: bool = False) -> dict[str, RankAnalysis]:
    """Both analyses of a grid, keyed by what they rank: descriptive average ranks (the default, since the
    blocks of one grid share its test set), or with the Friedman / Nemenyi tests (``tested``) for blocks
    that are independent data sets."""
    rank = rank_treatments if tested else describe_ranks
    return {"resampler": rank(runs, "resampler", resamplers), "model": rank(runs, "model", models)}
