"""Average ranks against hand-computed cases: a clear winner, a three-way tie, a missing run."""
import numpy as np
import pandas as pd
import pytest

from benchmark.metrics.ranks import describe_ranks, rank_analyses
from benchmark.reporting.tables import rank_lines

MODELS, SEEDS = ["mlp", "cnn", "resnet"], [0, 1]  # 6 (model, seed) blocks
RESAMPLERS = ["none", "smote", "adasyn"]


def runs_table(scores: dict[str, list[float]], models=MODELS, seeds=SEEDS) -> pd.DataFrame:
    """``scores``: resampler -> one macro F1 per (model, seed) block, blocks in model-major order."""
    blocks = [(m, s) for m in models for s in seeds]
    return pd.DataFrame([{"model": m, "resampler": r, "seed": s, "macro_f1": f}
                         for r, values in scores.items() for (m, s), f in zip(blocks, values)])


@pytest.fixture(scope="module")
def clear_winner():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.3, 0.8, 6)  # blocks differ a lot; within a block: smote > none > adasyn
    return runs_table({"none": base, "smote": base + 0.05, "adasyn": base - 0.05})


def test_clear_winner_ranks_first(clear_winner):
    a = describe_ranks(clear_winner, "resampler", RESAMPLERS)
    assert a.computed and a.n_blocks == 6 and a.n_incomplete == 0 and a.block == "(model, seed)"
    assert a.mean_ranks == {"smote": 1.0, "none": 2.0, "adasyn": 3.0}
    assert list(a.mean_ranks) == ["smote", "none", "adasyn"], "best first"


def test_ties_share_the_mean_rank_and_keep_the_grids_order():
    # every resampler wins, comes second and comes last in two blocks each: all average ranks are 2
    hi, mid, lo = 0.6, 0.5, 0.4
    runs = runs_table({"none": [hi, mid, lo, hi, mid, lo], "smote": [mid, lo, hi, mid, lo, hi],
                       "adasyn": [lo, hi, mid, lo, hi, mid]})
    a = describe_ranks(runs, "resampler", RESAMPLERS)
    assert set(a.mean_ranks.values()) == {2.0} and list(a.mean_ranks) == RESAMPLERS
    one_block = runs_table({"none": [0.5], "smote": [0.5], "adasyn": [0.4]}, models=["mlp"], seeds=[0])
    assert describe_ranks(one_block, "resampler", RESAMPLERS).mean_ranks == {"none": 1.5, "smote": 1.5, "adasyn": 3.0}


def test_a_block_with_a_missing_run_is_dropped_and_counted(clear_winner):
    failed = clear_winner.drop(clear_winner[(clear_winner.model == "mlp") & (clear_winner.seed == 0)
                                            & (clear_winner.resampler == "smote")].index)
    a = describe_ranks(failed, "resampler", RESAMPLERS)
    assert (a.n_blocks, a.n_incomplete) == (5, 1)
    assert "5 blocks, 1 more dropped for a missing run" in rank_lines(a)[0]
    assert not describe_ranks(clear_winner.iloc[:0], "resampler", ["none", "smote"]).computed
    assert describe_ranks(clear_winner, "resampler", ["none"]).reason == "1 resampler(s)"


def test_a_grids_ranks_are_descriptive_because_its_blocks_share_one_test_set(clear_winner):
    both = rank_analyses(clear_winner, MODELS, RESAMPLERS)
    assert both["model"].block == "(resampler, seed)" and both["model"].n_blocks == 6
    words = rank_lines(both["resampler"])[0]
    assert "Descriptive only" in words and "Friedman" not in words
    assert "| smote       | 1.00           |" in rank_lines(both["resampler"])[2]
