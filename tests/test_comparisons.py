"""Which cells the report compares: "best" is chosen on validation, never on the test part."""
import numpy as np
import pandas as pd

from benchmark.metrics.comparisons import compare_cells


def test_best_model_is_chosen_by_validation_not_by_test():
    rng = np.random.default_rng(0)
    y = rng.choice(5, size=600)
    good = y.copy()
    bad = np.where(rng.random(600) < 0.3, (y + 1) % 5, y)
    runs = pd.DataFrame([{"model": "a", "resampler": "none", "seed": 0, "run_id": "a"},
                         {"model": "b", "resampler": "none", "seed": 0, "run_id": "b"}])
    # a is better on test, b on validation: b is "best", and a's better test score shows as b's loss
    summary = pd.DataFrame([{"model": "a", "resampler": "none", "macro_f1_mean": 0.9, "best_val_macro_f1_mean": 0.5},
                            {"model": "b", "resampler": "none", "macro_f1_mean": 0.6, "best_val_macro_f1_mean": 0.7}])
    table = compare_cells(runs, summary, {"a": good, "b": bad}, y, ["a", "b"], ["none"], n_boot=200,
                          groups=np.repeat(np.arange(30), 20))
    row = table.iloc[0]
    assert (row.family, row.model_a, row.model_b) == ("best model vs other", "b", "a")
    assert row.difference < 0 and row.unit == "record"


def test_holm_with_error_is_holm_and_carries_the_error_of_the_p_it_comes_from():
    from benchmark.metrics.stats import holm, holm_with_error

    p = np.array([0.01, 0.04, 0.03, 0.5])
    err = np.array([0.001, 0.002, 0.003, 0.01])
    adjusted, adjusted_err, source = holm_with_error(p, err)
    assert np.allclose(adjusted, holm(p)) and np.allclose(adjusted, [0.04, 0.09, 0.09, 0.5])
    assert source.tolist() == [0, 2, 2, 3], "0.04's adjusted p is 3 × 0.03's (monotone), so is its error"
    assert np.allclose(adjusted_err, [4 * 0.001, 3 * 0.003, 3 * 0.003, 0.01])


def _family(n_tests, gap, seed=0):
    """Paired tests over 40 records: cell A better than cell B by roughly ``gap`` accuracy."""
    from benchmark.metrics.comparisons import PairedTest

    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=2000)
    groups = np.repeat(np.arange(40), 50)
    tests = []
    for i in range(n_tests):
        b = np.where(rng.random(2000) < 0.35, (y + 1) % 3, y)
        a = np.where(rng.random(2000) < 0.35 - gap[i], (y + 1) % 3, y)
        tests.append(PairedTest({"test": i}, y, [a], [b], groups, 3))
    return tests


def test_a_verdict_near_alpha_gets_more_resamples_and_none_depends_on_the_draw():
    from benchmark.metrics.comparisons import ALPHA, MC_MARGIN, decide

    gaps = [0.0, 0.01, 0.02, 0.03, 0.04, 0.06]
    tables = [decide(_family(len(gaps), gaps), seed=s, n_boot=200, max_boot=25_600) for s in range(4)]
    assert all(t.verdict.tolist() == tables[0].verdict.tolist() for t in tables), [t.verdict.tolist() for t in tables]
    t = tables[0]
    settled = t[t.verdict != "undecided"]
    assert (np.abs(settled.p_holm - ALPHA) >= MC_MARGIN * settled.p_holm_mc_error).all()
    assert t.n_boot.max() > 200 and t.n_boot.min() == 200, "only the tests near α are drawn again"


def test_at_a_fixed_small_count_a_verdict_is_within_the_draws_reach():
    """The reason for decide: at 200 resamples some adjusted p lies within the Monte Carlo margin of α,
    where another draw could give another verdict; decide settles it with more resamples."""
    from benchmark.metrics.comparisons import decide, holm_verdicts

    gaps = [0.0, 0.01, 0.02, 0.03, 0.04, 0.06]
    fixed = holm_verdicts([{**t.info, **t.run(200, 0)} for t in _family(len(gaps), gaps)])
    settled = decide(_family(len(gaps), gaps), seed=0, n_boot=200, max_boot=25_600)
    unsure = fixed.verdict == "undecided"
    assert unsure.any() and (settled.verdict[unsure] != "undecided").all()
