"""Every registered resampler keeps float32 and (n, 187, 1), is seeded, and behaves as documented."""
import numpy as np
import pytest

from resampling import ResamplingError, list_resamplers, resample
from tests.conftest import clustered_beats

OVERSAMPLERS = [r for r in list_resamplers() if r != "smote_enn"]


@pytest.fixture(scope="module")
def overlapping():
    beats = clustered_beats(n_per_class=(200, 30, 50, 20, 40), spread=0.6, seed=3)
    return beats.x[..., None], beats.y


def test_registry_has_the_five_resamplers():
    assert set(list_resamplers()) == {"none", "random", "smote", "adasyn", "smote_enn"}


@pytest.mark.parametrize("name", list_resamplers())
def test_dtype_shape_and_seed_determinism(name, overlapping):
    x, y = overlapping
    xr, yr = resample(name, x, y, seed=7)
    assert xr.dtype == np.float32 and xr.shape[1:] == (187, 1) and len(xr) == len(yr)
    xr2, yr2 = resample(name, x, y, seed=7)
    assert np.array_equal(xr, xr2) and np.array_equal(yr, yr2)


@pytest.mark.parametrize("name", OVERSAMPLERS)
def test_oversamplers_never_shrink_a_class(name, overlapping):
    x, y = overlapping
    _, yr = resample(name, x, y, seed=0)
    before, after = np.bincount(y, minlength=5), np.bincount(yr, minlength=5)
    assert np.all(after >= before)
    if name != "none":
        assert after[1] > before[1], "the rarest classes grow"


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
