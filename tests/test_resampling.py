"""Generic checks of every registered resampler (as imbalanced-learn checks its samplers): float32 and
(n, 187, 1) kept, seeded, the input untouched, and the class counts changed as its declared kind says."""
import numpy as np
import pytest

from resampling import KINDS, ResamplingError, list_resamplers, resample, resampler_kind, sampler_parameters
from tests.conftest import clustered_beats


@pytest.fixture(scope="module")
def overlapping():
    beats = clustered_beats(n_per_class=(200, 30, 50, 20, 40), spread=0.6, seed=3)
    return beats.x[..., None], beats.y


def test_the_published_benchmarks_resamplers_are_registered():
    from benchmark.config import BENCHMARK_RESAMPLERS
    assert set(BENCHMARK_RESAMPLERS) <= set(list_resamplers())


@pytest.mark.parametrize("name", list_resamplers())
def test_dtype_shape_and_seed_determinism(name, overlapping):
    x, y = overlapping
    xr, yr = resample(name, x, y, seed=7)
    assert xr.dtype == np.float32 and xr.shape[1:] == (187, 1) and len(xr) == len(yr)
    xr2, yr2 = resample(name, x, y, seed=7)
    assert np.array_equal(xr, xr2) and np.array_equal(yr, yr2)


@pytest.mark.parametrize("name", list_resamplers())
def test_class_counts_change_as_the_declared_kind_says(name, overlapping):
    x, y = overlapping
    x_before = x.copy()
    xr, yr = resample(name, x, y, seed=0)
    assert np.array_equal(x, x_before), "the training part passed in is never modified"
    before, after = np.bincount(y, minlength=5), np.bincount(yr, minlength=5)
    kind = resampler_kind(name)
    assert kind in KINDS
    if kind in ("identity", "weighting"):  # weighting changes the loss, not the training part
        assert np.array_equal(xr, x) and np.array_equal(yr, y)
    elif kind == "over":
        assert np.all(after >= before) and np.all(after[before < before.max()] > before[before < before.max()])
    elif kind == "under":
        assert np.all(after <= before)
    else:  # combined: oversampling, then cleaning
        assert after[1] > before[1] and len(set(after)) > 1


@pytest.mark.parametrize("name", list_resamplers())
def test_sampler_parameters_are_plain_values_and_follow_the_seed(name):
    params = sampler_parameters(name, 7)
    assert all(isinstance(v, (int, float, str, bool, type(None))) for v in params.values())
    if "random_state" in params:
        assert params["random_state"] == 7 and sampler_parameters(name, 8) != params


def test_original_beats_are_kept_by_oversamplers(overlapping):
    x, y = overlapping
    xr, _ = resample("smote", x, y, seed=0)
    assert np.array_equal(xr[:len(x)], x)


def test_smote_enn_is_smote_then_edited_nearest_neighbours(overlapping):
    from imblearn.over_sampling import SMOTE
    from imblearn.under_sampling import EditedNearestNeighbours

    x, y = overlapping
    xs, ys = SMOTE(random_state=5).fit_resample(x.reshape(len(x), -1), y)
    xe, ye = EditedNearestNeighbours(sampling_strategy="all").fit_resample(xs, ys)
    xr, yr = resample("smote_enn", x, y, seed=5)
    assert np.array_equal(xr.reshape(len(xr), -1), xe) and np.array_equal(yr, ye)
    assert len(yr) <= len(ys), "ENN only removes beats"


def test_a_resampler_that_cannot_work_raises_a_clear_error():
    beats = clustered_beats(n_per_class=(200, 3, 50, 20, 40), spread=0.01)  # S has too few neighbours
    with pytest.raises(ResamplingError, match="^smote: .*n_neighbors|^smote: .*neighbors"):
        resample("smote", beats.x[..., None], beats.y, seed=0)


@pytest.mark.parametrize("name", list_resamplers())
def test_only_weighting_resamplers_weight_the_loss_and_then_every_class_weighs_the_same(name, overlapping):
    from resampling import loss_weights

    _, y = overlapping
    weights = loss_weights(name, y)
    if resampler_kind(name) != "weighting":
        assert weights is None
        return
    assert weights.dtype == np.float32 and len(weights) == len(y)
    per_class = np.bincount(y, weights=weights)
    assert np.allclose(per_class, per_class[0]) and np.isclose(weights.sum(), len(y))
