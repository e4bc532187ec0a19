"""Statistics against hand-computed cases: a known-significant and a known-null difference."""
import numpy as np
import pytest
from scipy import stats as sps

from benchmark.evaluator import macro_f1
from benchmark.stats import holm, paired_bootstrap, t_interval


def test_t_interval_matches_the_formula_and_refuses_one_seed():
    assert t_interval([0.9]) is None
    low, high = t_interval([0.90, 0.92])
    half = sps.t.ppf(0.975, 1) * np.std([0.90, 0.92], ddof=1) / np.sqrt(2)  # 12.706 * 0.01414 / 1.414
    assert (low, high) == pytest.approx((0.91 - half, 0.91 + half))
    assert half == pytest.approx(0.12706, abs=1e-4)


def test_holm_hand_computed():
    # sorted p: 0.01*3=0.03, 0.02*2=0.04, 0.04*1=0.04 -> monotone
    assert holm([0.04, 0.01, 0.02]).tolist() == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.6]).tolist() == pytest.approx([1.0, 1.0])


@pytest.fixture(scope="module")
def labels():
    rng = np.random.default_rng(0)
    return rng.choice(5, size=4000, p=[0.7, 0.1, 0.1, 0.05, 0.05])


def _noisy(y, error_rate, seed):
    rng = np.random.default_rng(seed)
    wrong = rng.random(len(y)) < error_rate
    return np.where(wrong, (y + rng.integers(1, 5, len(y))) % 5, y)


def test_known_significant_difference(labels):
    good, bad = _noisy(labels, 0.05, 1), _noisy(labels, 0.20, 2)
    r = paired_bootstrap(labels, [good], [bad], n_boot=500)
    assert r["difference"] == pytest.approx(macro_f1(labels, good) - macro_f1(labels, bad))
    assert r["difference"] > 0.1 and r["p_value"] < 0.01 and r["ci_low"] > 0


def test_known_null_difference(labels):
    # two classifiers with the same error rate, wrong on different beats: no real difference
    a, b = _noisy(labels, 0.10, 3), _noisy(labels, 0.10, 4)
    r = paired_bootstrap(labels, [a], [b], n_boot=500)
    assert r["p_value"] > 0.05 and r["ci_low"] < 0 < r["ci_high"]
    same = paired_bootstrap(labels, [a], [a], n_boot=200)
    assert same["difference"] == 0 and same["p_value"] == 1.0


def test_seeds_are_paired_and_averaged(labels):
    a = [_noisy(labels, 0.05, s) for s in (10, 11)]
    b = [_noisy(labels, 0.08, s) for s in (12, 13)]
    r = paired_bootstrap(labels, a, b, n_boot=200)
    expected = np.mean([macro_f1(labels, x) - macro_f1(labels, y) for x, y in zip(a, b)])
    assert r["difference"] == pytest.approx(expected) and r["n_seeds"] == 2
    with pytest.raises(ValueError, match="same, non-zero number of seeds"):
        paired_bootstrap(labels, a, b[:1])
