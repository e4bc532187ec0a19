"""Statistics against hand-computed cases: a known-significant and a known-null difference."""
import numpy as np
import pytest
from scipy import stats as sps

from benchmark.metrics.evaluator import macro_f1
from benchmark.metrics.stats import holm, paired_bootstrap, t_interval


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


def _clustered_world(rng, n_records=24, per_record=150):
    """Records with their own class mix, and two classifiers whose error rate varies by record, drawn
    from the same distribution for both: no difference between them over patients."""
    y, groups, a, b = [], [], [], []
    for r in range(n_records):
        yr = rng.choice(5, size=per_record, p=rng.dirichlet([4, 1, 1, 0.5, 0.5]))
        for out in (a, b):
            wrong = rng.random(per_record) < rng.uniform(0.0, 0.5)
            out.append(np.where(wrong, (yr + rng.integers(1, 5, per_record)) % 5, yr))
        y.append(yr)
        groups.append(np.full(per_record, f"r{r}"))
    return np.concatenate(y), np.concatenate(groups), np.concatenate(a), np.concatenate(b)


@pytest.mark.slow  # the fast suite stays under its 5-minute budget; .ci/run runs it
def test_record_bootstrap_keeps_its_false_positive_rate_where_the_beat_bootstrap_does_not():
    rng = np.random.default_rng(0)
    record = beat = 0
    n = 100
    for _ in range(n):
        y, groups, a, b = _clustered_world(rng)
        record += paired_bootstrap(y, [a], [b], n_boot=300, groups=groups)["p_value"] < 0.05
        beat += paired_bootstrap(y, [a], [b], n_boot=300)["p_value"] < 0.05
    assert record / n <= 0.10, f"record-level false-positive rate {record / n}"
    assert beat / n >= 0.30, f"beat-level false-positive rate {beat / n}: the clustering should fool it"


def test_record_bootstrap_observes_the_same_gap_and_finds_a_real_one(labels):
    groups = np.repeat(np.arange(40), len(labels) // 40)
    good, bad = _noisy(labels, 0.05, 1), _noisy(labels, 0.20, 2)
    r = paired_bootstrap(labels, [good], [bad], n_boot=500, groups=groups)
    assert r["difference"] == pytest.approx(macro_f1(labels, good) - macro_f1(labels, bad))
    assert r["p_value"] < 0.01 and r["unit"] == "record" and r["n_units"] == 40
    with pytest.raises(ValueError, match="groups has"):
        paired_bootstrap(labels, [good], [bad], groups=groups[:-1])


def test_record_bootstrap_resamples_seeds_too(labels):
    """Two seeds that disagree: A beats B with one seed and loses with the other. Resampling the seeds
    makes the interval cover both, where averaging them alone would hide the training noise."""
    groups = np.repeat(np.arange(40), len(labels) // 40)
    a = [_noisy(labels, 0.02, 20), _noisy(labels, 0.30, 21)]
    b = [_noisy(labels, 0.30, 22), _noisy(labels, 0.02, 23)]
    r = paired_bootstrap(labels, a, b, n_boot=500, groups=groups)
    assert r["n_seeds"] == 2 and r["ci_low"] < -0.1 and r["ci_high"] > 0.1 and r["p_value"] > 0.05
