"""Average ranks and critical difference against hand-computed cases: a clear winner, a null, too few blocks."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from benchmark.reporting import figures
from benchmark.metrics.ranks import MIN_BLOCKS, rank_analyses, rank_treatments
from benchmark.reporting.tables import rank_lines

MODELS, SEEDS = ["mlp", "cnn", "resnet"], [0, 1]  # 6 (model, seed) blocks


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


def test_clear_winner_ranks_first_and_is_significant(clear_winner):
    a = rank_treatments(clear_winner, "resampler", ["none", "smote", "adasyn"])
    assert a.computed and a.n_blocks == 6 and a.n_incomplete == 0 and a.block == "(model, seed)"
    assert a.mean_ranks == {"smote": 1.0, "none": 2.0, "adasyn": 3.0}
    assert a.test == "Friedman test, Nemenyi post-hoc"
    # Friedman on rank sums 6, 12, 18: chi2 = 12 / (N k (k+1)) * sum(R^2) - 3 N (k+1) = 84 - 72 = 12
    assert a.p_value == pytest.approx(sps.chi2.sf(12, 2)) and a.p_value < 0.01 and a.significant
    # Demšar 2006, Table 5(a): q_0.05 = 2.343 for k = 3; CD = q sqrt(k (k+1) / (6 N))
    assert a.cd == pytest.approx(2.343 * np.sqrt(3 * 4 / (6 * 6)), abs=1e-3)
    assert a.different_pairs() == [("smote", "adasyn")]  # 2 ranks apart > CD 1.35 > 1 rank apart


def test_known_null_is_not_significant(tmp_path):
    # every resampler wins, comes second and comes last in two blocks each: all average ranks are 2
    hi, mid, lo = 0.6, 0.5, 0.4
    runs = runs_table({"none": [hi, mid, lo, hi, mid, lo], "smote": [mid, lo, hi, mid, lo, hi],
                       "adasyn": [lo, hi, mid, lo, hi, mid]})
    a = rank_treatments(runs, "resampler", ["none", "smote", "adasyn"])
    assert a.computed and set(a.mean_ranks.values()) == {2.0} and list(a.mean_ranks) == ["none", "smote", "adasyn"]
    assert a.p_value == pytest.approx(1.0) and not a.significant and a.different_pairs() == []
    with pytest.raises(ValueError, match="omnibus p = 1.0000"):
        figures.critical_difference(a, tmp_path / "cd.png", "never drawn")
    assert not (tmp_path / "cd.png").exists()
    assert "no evidence that the resamplers rank differently" in " ".join(rank_lines(a))


def test_too_few_blocks_says_how_many_and_how_many_are_needed(clear_winner):
    from autorank import autorank

    four = clear_winner[clear_winner.model.isin(["mlp", "cnn"])]  # 2 models × 2 seeds
    a = rank_treatments(four, "resampler", ["none", "smote", "adasyn"])
    assert not a.computed and not a.significant and a.mean_ranks == {} and a.p_value is None
    assert a.reason == (f"4 complete (model, seed) blocks; the Friedman test needs at least {MIN_BLOCKS} "
                        "(autorank's minimum); each further seed adds one block per model")
    assert "not computed, 4 complete" in rank_lines(a)[0]
    with pytest.raises(ValueError, match="at least five"):  # MIN_BLOCKS is autorank's own limit
        autorank(pd.DataFrame(np.eye(4)[:, :3]), force_mode="nonparametric")

    # a failed run leaves its block incomplete: 6 blocks, one dropped, 5 are still enough
    failed = clear_winner.drop(clear_winner[(clear_winner.model == "mlp") & (clear_winner.seed == 0)
                                            & (clear_winner.resampler == "smote")].index)
    b = rank_treatments(failed, "resampler", ["none", "smote", "adasyn"])
    assert b.computed and (b.n_blocks, b.n_incomplete) == (5, 1)

    assert "ranking them needs at least 3" in rank_treatments(clear_winner, "resampler", ["none", "smote"]).reason
    both = rank_analyses(clear_winner, MODELS, ["none", "smote", "adasyn"])
    assert both["model"].block == "(resampler, seed)" and both["model"].n_blocks == 6 and both["model"].computed


def test_diagram_is_written(clear_winner, tmp_path):
    a = rank_treatments(clear_winner, "resampler", ["none", "smote", "adasyn"])
    path = figures.critical_difference(a, tmp_path / "figures/critical_difference_resamplers.png", "title")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_a_grids_ranks_are_descriptive_because_its_blocks_share_one_test_set(clear_winner):
    from benchmark.metrics.ranks import describe_ranks

    both = rank_analyses(clear_winner, MODELS, ["none", "smote", "adasyn"])
    a = both["resampler"]
    assert a.computed and a.p_value is None and not a.significant and a.cd is None
    assert a.mean_ranks == rank_treatments(clear_winner, "resampler", ["none", "smote", "adasyn"]).mean_ranks
    words = rank_lines(a)[0]
    assert "Descriptive only" in words and "Friedman" not in words
    four = clear_winner[clear_winner.model.isin(["mlp", "cnn"])]  # too few blocks to test, enough to describe
    assert describe_ranks(four, "resampler", ["none", "smote", "adasyn"]).mean_ranks == \
        {"smote": 1.0, "none": 2.0, "adasyn": 3.0}
    assert not describe_ranks(four.iloc[:0], "resampler", ["none", "smote"]).computed
