"""The pruned neighbour search and SMOTE-ENN give exactly scikit-learn's / imbalanced-learn's answers."""
import numpy as np
import pytest
from imblearn.combine import SMOTEENN
from sklearn.neighbors import NearestNeighbors

from resampling.neighbours import kneighbors
from resampling.smote_enn import FastSMOTEENN
from tests.conftest import REAL_MITDB, clustered_beats


def low_rank_beats(n=1500, dims=60, rank=6, seed=0):
    """Compressible points (a few latent factors plus noise), in clumps, like heartbeats."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(12, rank)) * 3
    latent = centres[rng.integers(0, 12, n)] + rng.normal(size=(n, rank)) * 0.5
    return (latent @ rng.normal(size=(rank, dims)) + 0.05 * rng.normal(size=(n, dims))).astype(np.float32)


def sklearn_kneighbors(x, k):
    return NearestNeighbors(n_neighbors=k).fit(x).kneighbors(x, return_distance=False)


@pytest.mark.parametrize("k", [1, 4, 9])
@pytest.mark.parametrize("cluster_size", [16, 256])
def test_same_neighbours_as_sklearn(k, cluster_size):
    x = low_rank_beats()
    assert np.array_equal(kneighbors(x, k, cluster_size=cluster_size), sklearn_kneighbors(x, k))


def test_ties_give_the_same_neighbour_sets_as_sklearn():
    """Among exactly equal distances sklearn's choice and order follow its heap and sort, not the
    index; the neighbours' distances agree, and so do the neighbours wherever there is no tie."""
    x = low_rank_beats(n=600)
    x = np.concatenate([x, x[::3], x[::7]])  # exact duplicates: distance ties
    ours, ref = kneighbors(x, 5, cluster_size=32), sklearn_kneighbors(x, 5)
    dist = lambda idx: np.sort(np.linalg.norm(x[idx] - x[:, None, :], axis=2), axis=1)
    assert np.allclose(dist(ours), dist(ref), rtol=0, atol=1e-9)
    assert np.unique(x, axis=0, return_counts=True)[1].max() > 1, "the test needs ties"


def test_incompressible_and_tiny_inputs():
    x = np.random.default_rng(1).normal(size=(300, 187)).astype(np.float32)
    assert np.array_equal(kneighbors(x, 4, cluster_size=32), sklearn_kneighbors(x, 4))
    assert np.array_equal(kneighbors(x[:5], 5), sklearn_kneighbors(x[:5], 5))
    with pytest.raises(ValueError, match="k must be"):
        kneighbors(x[:3], 4)


@pytest.mark.parametrize("seed", [0, 5])
def test_smote_enn_identical_to_imblearn(seed):
    beats = clustered_beats(n_per_class=(400, 60, 90, 30, 70), spread=0.5, seed=seed)
    ref_x, ref_y = SMOTEENN(random_state=seed).fit_resample(beats.x, beats.y)
    x, y = FastSMOTEENN(random_state=seed).fit_resample(beats.x, beats.y)
    assert len(ref_y) < 5 * 400, "ENN removed beats, so the comparison tests the cleaning"
    assert x.dtype == ref_x.dtype == np.float32
    assert np.array_equal(x, ref_x) and np.array_equal(y, ref_y)


@pytest.mark.slow  # ~12 s: .ci/run runs it
@pytest.mark.real_data
@pytest.mark.skipif(not (REAL_MITDB / "100.dat").exists(), reason="needs ../shared/data/mitdb")
def test_smote_enn_identical_to_imblearn_on_real_beats(tmp_path):
    from benchmark.data.splits import load_split, stratified_subset

    split = load_split("intra", data_dir=REAL_MITDB, cache_dir=tmp_path)
    part = stratified_subset(split.train, 6000, seed=0)
    ref = SMOTEENN(random_state=0).fit_resample(part.x, part.y)
    ours = FastSMOTEENN(random_state=0).fit_resample(part.x, part.y)
    assert np.array_equal(ours[0], ref[0]) and np.array_equal(ours[1], ref[1])
