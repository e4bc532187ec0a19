"""Generic checks of every registered resampler and of the smote_variants samplers named below (as
imbalanced-learn checks its samplers): float32 and (n, 187, 1) kept, seeded, the input untouched, and the
class counts changed as its declared kind says."""
import importlib.util

import numpy as np
import pytest

from resampling import KINDS, ResamplingError, list_resamplers, resample, resampler_kind, sampler_parameters
from tests.conftest import clustered_beats

# smote_variants samplers the generic checks cover (an optional extra: skipped when it is not installed)
SMOTE_VARIANTS = ("polynom_fit_SMOTE_star", "ProWSyn", "SMOTE_IPF", "Borderline_SMOTE1", "Safe_Level_SMOTE",
                  "SMOTE_TomekLinks", "ADASYN", "Random_SMOTE", "SL_graph_SMOTE", "NRSBoundary_SMOTE",
                  "MWMOTE", "kmeans_SMOTE")
SLOW_VARIANTS = ("NRSBoundary_SMOTE",)  # ~5-20 s a run even on these 117 beats: checked with -m slow
HAVE_SV = importlib.util.find_spec("smote_variants") is not None
needs_sv = pytest.mark.skipif(not HAVE_SV, reason="smote-variants is not installed (pip install smote-variants)")
TREATMENTS = [*list_resamplers(),
              *(pytest.param(f"sv:{n}", marks=[needs_sv, *([pytest.mark.slow] if n in SLOW_VARIANTS else [])])
                for n in SMOTE_VARIANTS)]


@pytest.fixture(scope="module")
def overlapping():
    beats = clustered_beats(n_per_class=(200, 30, 50, 20, 40), spread=0.6, seed=3)
    return beats.x[..., None], beats.y


def borderline_beats(n_per_class=(60, 12, 20, 10, 15), length=187, seed=3):
    """Classes as overlapping clouds in a 2-D subspace of the beats, the majority's at the centre: every
    minority class has beats among majority beats ("danger" beats), which the borderline samplers need."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, length)
    basis = np.stack([0.2 * np.sin(2 * np.pi * t), 0.2 * np.cos(2 * np.pi * 3 * t)])
    xs, ys = [], []
    for c, n in enumerate(n_per_class):
        angle = 2 * np.pi * c / len(n_per_class)
        centre = np.zeros(2) if c == 0 else 2.5 * np.array([np.cos(angle), np.sin(angle)])
        xs.append(0.5 + (centre + rng.standard_normal((n, 2))) @ basis + 0.01 * rng.standard_normal((n, length)))
        ys.append(np.full(n, c, dtype=np.int8))
    return np.concatenate(xs).astype(np.float32)[..., None], np.concatenate(ys)


@pytest.fixture(scope="module")
def beats_for(overlapping):
    """The tiny data a treatment is checked on: smote_variants samplers get fewer beats (some are slow)
    that all of them can work on."""
    borderline = borderline_beats()
    return lambda name: borderline if name.startswith("sv:") else overlapping


@pytest.fixture(scope="module")
def treated(beats_for):
    """resample(name, its data, seed 7), computed once per module."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = resample(name, *beats_for(name), seed=7)
        return cache[name]
    return get


def test_the_published_benchmarks_resamplers_are_registered():
    from benchmark.config import BENCHMARK_RESAMPLERS
    assert set(BENCHMARK_RESAMPLERS) <= set(list_resamplers())


@pytest.mark.parametrize("name", TREATMENTS)
def test_dtype_shape_and_seed_determinism(name, beats_for, treated):
    x, y = beats_for(name)
    xr, yr = treated(name)
    assert xr.dtype == np.float32 and xr.shape[1:] == (187, 1) and len(xr) == len(yr) and yr.dtype == np.int8
    xr2, yr2 = resample(name, x, y, seed=7)
    assert np.array_equal(xr, xr2) and np.array_equal(yr, yr2)


@pytest.mark.parametrize("name", TREATMENTS)
def test_class_counts_change_as_the_declared_kind_says(name, beats_for):
    x, y = beats_for(name)
    x_before = x.copy()
    xr, yr = resample(name, x, y, seed=0)
    assert np.array_equal(x, x_before), "the training part passed in is never modified"
    before, after = np.bincount(y, minlength=5), np.bincount(yr, minlength=5)
    minority = before < before.max()
    kind = resampler_kind(name)
    assert kind in KINDS
    if kind in ("identity", "weighting"):  # weighting changes the loss, not the training part
        assert np.array_equal(xr, x) and np.array_equal(yr, y)
    elif kind == "over":
        assert np.all(after >= before) and np.all(after[minority] > before[minority])
    elif kind == "under":
        assert np.all(after <= before)
    elif kind == "under_over":
        assert after[~minority] < before[~minority] and np.all(after[minority] >= before[minority])
        assert np.any(after[minority] > before[minority])
    else:  # combined: oversampling, then cleaning
        assert after[1] > before[1] and len(set(after)) > 1


@pytest.mark.parametrize("name", TREATMENTS)
def test_resamplers_that_only_add_beats_keep_the_originals_first(name, beats_for, treated):
    if resampler_kind(name) not in ("identity", "weighting", "over"):
        pytest.skip("it removes beats")
    x, _ = beats_for(name)
    assert np.array_equal(treated(name)[0][:len(x)], x)


@pytest.mark.parametrize("name", TREATMENTS)
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


@pytest.mark.parametrize("name", TREATMENTS)
def test_only_weighting_resamplers_weight_the_loss_and_rarer_classes_never_weigh_less(name, overlapping):
    from resampling import loss_weights

    _, y = overlapping
    weights = loss_weights(name, y)
    if resampler_kind(name) != "weighting":
        assert weights is None
        return
    assert weights.dtype == np.float32 and len(weights) == len(y) and np.all(weights > 0)
    counts = np.bincount(y)
    per_beat = np.array([weights[y == c][0] for c in range(len(counts))])
    assert all(np.all(weights[y == c] == per_beat[c]) for c in range(len(counts))), "one weight per class"
    order = np.argsort(counts)
    assert np.all(np.diff(per_beat[order]) <= 0), "a rarer class never weighs less per beat"
    assert per_beat[np.argmin(counts)] > per_beat[np.argmax(counts)]


def test_class_weight_gives_every_class_the_same_mass(overlapping):
    from resampling import loss_weights

    _, y = overlapping
    weights = loss_weights("class_weight", y)
    per_class = np.bincount(y, weights=weights)
    assert np.allclose(per_class, per_class[0]) and np.isclose(weights.sum(), len(y))


def test_log_class_weight_is_bounded_where_inverse_frequency_explodes():
    from resampling import loss_weights

    counts = [45_000, 900, 3_700, 400, 8]  # the inter split's training part, roughly
    y = np.repeat(np.arange(5), counts).astype(np.int8)
    log_w, inverse = loss_weights("log_class_weight", y), loss_weights("class_weight", y)
    per_class = np.array([log_w[y == c][0] for c in range(5)])
    assert np.allclose(per_class, np.maximum(1, np.log(45_000 / np.array(counts))), rtol=1e-6)
    assert per_class[0] == 1.0 and np.isclose(per_class.max() / per_class.min(), np.log(45_000 / 8), rtol=1e-6)
    assert 8.6 < per_class.max() / per_class.min() < 8.7
    assert inverse.max() / inverse.min() == pytest.approx(45_000 / 8, rel=1e-5)  # ~5,600


def test_a_class_close_to_the_majority_keeps_weight_one():
    from resampling import loss_weights

    y = np.repeat([0, 1], [100, 50]).astype(np.int8)  # ln 2 < 1
    assert np.all(loss_weights("log_class_weight", y) == 1.0)


# ------------------------------------------------------------------ under_over, noise, gmm


def test_under_over_defaults_scale_with_the_data_and_counts_override_them():
    y = np.repeat(np.arange(5), [1_000, 30, 700, 20, 250]).astype(np.int8)
    x = np.random.default_rng(0).random((len(y), 187, 1), dtype=np.float32)
    _, yr = resample("under_over", x, y, seed=0)
    assert np.bincount(yr).tolist() == [500, 250, 700, 250, 250]  # N halved; minorities to half of it
    _, yr = resample("under_over[majority_count=600,minority_count=300]", x, y, seed=0)
    assert np.bincount(yr).tolist() == [600, 300, 700, 300, 300]
    params = sampler_parameters("under_over[majority_count=600,minority_count=300]", 0)
    assert params["majority_count"] == 600 and params["minority_count"] == 300
    assert params != sampler_parameters("under_over", 0)


def test_under_over_works_on_a_binary_task_and_keeps_only_real_beats():
    y = np.repeat([0, 1], [900, 100]).astype(np.int8)
    x = np.random.default_rng(1).random((len(y), 187, 1), dtype=np.float32)
    xr, yr = resample("under_over[majority_fraction=0.6,minority_fraction=0.5]", x, y, seed=3)
    assert np.bincount(yr).tolist() == [540, 270]
    originals = {row.tobytes() for row in x.reshape(len(x), -1)}
    assert all(row.tobytes() in originals for row in xr.reshape(len(xr), -1)), "random: duplicates, nothing new"


def test_under_over_refuses_to_grow_the_majority():
    y = np.repeat([0, 1], [90, 10]).astype(np.int8)
    with pytest.raises(ResamplingError, match="majority class 0 has 90 beats"):
        resample("under_over[majority_count=200]", np.zeros((100, 187, 1), np.float32), y, seed=0)


def test_noise_copies_have_the_set_scale_and_keep_the_padding_zero():
    rng = np.random.default_rng(0)
    x = np.zeros((60, 187), np.float32)
    x[:, :120] = rng.random((60, 120))  # beats end at sample 120, zero-padded after
    x[:, 0], x[:, 1] = 0.0, 1.0  # peak-to-peak amplitude 1
    y = np.repeat([0, 1], [50, 10]).astype(np.int8)
    xr, yr = resample("noise[noise_scale=0.05]", x[..., None], y, seed=0)
    new = xr[len(x):, :, 0]
    sources = x[y == 1]
    diffs = new[:, None, :120] - sources[None, :, :120]
    nearest = np.abs(diffs).mean(axis=2).argmin(axis=1)  # each copy's source beat
    noise = new[:, :120] - sources[nearest][:, :120]
    assert len(new) == 40 and np.all(yr[len(x):] == 1)
    assert 0.04 < noise.std() < 0.06 and np.all(new[:, 120:] == 0)
    same, _ = resample("noise[noise_scale=0]", x[..., None], y, seed=0)
    assert {r.tobytes() for r in same[len(x):, :, 0]} <= {r.tobytes() for r in sources}


@pytest.mark.parametrize("name", ["noise[noise_scale=0.05]",
                                  "under_over[majority_fraction=1,minority_fraction=0.8,noise_scale=0.05]"])
def test_noise_copies_leave_appended_features_alone_and_scale_by_the_waveform(name):
    rng = np.random.default_rng(1)
    x = np.zeros((60, 120 + 67 + 5), np.float32)
    x[:, :120] = rng.random((60, 120))  # the waveform ends at 120 and is zero-padded to 187
    x[:, 0], x[:, 1] = 0.0, 1.0  # its peak-to-peak amplitude 1
    x[:, 187:] = rng.uniform(0.3, 6.0, (60, 5))  # five RR features in seconds: a row's ptp is up to 6
    y = np.repeat([0, 1], [50, 10]).astype(np.int8)
    xr, yr = resample(name, x[..., None], y, seed=0, features=5)
    new, sources = xr[len(x):, :, 0], x[y == 1]
    assert len(new) == {"noise": 40, "under_over": 30}[name.split("[")[0]] and np.all(yr[len(x):] == 1)
    nearest = np.abs(new[:, None, 187:] - sources[None, :, 187:]).sum(axis=2).argmin(axis=1)
    assert np.array_equal(new[:, 187:], sources[nearest][:, 187:]), "a copy keeps its source's features"
    assert np.all(new[:, 120:187] == 0), "the waveform's padding stays zero"
    noise = new[:, :120] - sources[nearest][:, :120]
    assert 0.04 < noise.std() < 0.06, "the scale is the waveform's, not the row's"
    with pytest.raises(ResamplingError, match="no waveform is left"):
        resample(name, x[..., None], y, seed=0, features=192)


def test_gmm_draws_new_beats_near_their_class():
    beats = clustered_beats(n_per_class=(100, 30, 40), spread=0.05, seed=2)
    x, y = beats.x, beats.y
    xr, yr = resample("gmm[n_components=2]", x[..., None], y, seed=0)
    xr = xr[..., 0]
    assert np.bincount(yr).tolist() == [100, 100, 100]
    means = np.stack([x[y == c].mean(0) for c in range(3)])
    new = xr[len(x):]
    nearest = ((new[:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
    assert np.array_equal(nearest, yr[len(x):]), "every drawn beat is nearest its own class's mean"
    assert not ({r.tobytes() for r in new} & {r.tobytes() for r in x}), "drawn, not copied"
    assert sampler_parameters("gmm[covariance_type=spherical]", 0)["covariance_type"] == "spherical"


def test_gmm_fails_its_cell_naming_a_class_with_too_few_beats():
    beats = clustered_beats(n_per_class=(100, 30, 40, 20, 8), spread=0.05)
    with pytest.raises(ResamplingError, match=r"^gmm: too few beats .*class 4 has 8"):
        resample("gmm", beats.x[..., None], beats.y, seed=0)
    _, yr = resample("gmm[n_components=1]", beats.x[..., None], beats.y, seed=0)
    assert np.bincount(yr)[4] == 100


# ------------------------------------------------------------------ names and parameters


def test_names_with_parameters_are_canonical_and_checked():
    from resampling import canonical_name, check_resampler

    assert canonical_name("under_over[minority_count=3,majority_fraction=0.4]") == \
        "under_over[majority_fraction=0.4,minority_count=3]"
    assert check_resampler("gmm[n_components=2]") == "gmm[n_components=2]"
    with pytest.raises(ValueError, match="Invalid parameter 'bogus'.*n_components"):
        check_resampler("gmm[bogus=1]")
    with pytest.raises(ValueError, match="random_state is the run's seed"):
        check_resampler("smote[random_state=3]")
    with pytest.raises(ValueError, match="no spaces, '/' or '__'"):
        check_resampler("gmm[covariance_type=a__b]")
    with pytest.raises(ValueError, match="unknown resampler 'nope'; known resamplers: none, .*sv:NAME"):
        check_resampler("nope")


# ------------------------------------------------------------------ smote_variants


@needs_sv
def test_sv_parameters_pass_through_and_are_recorded(beats_for):
    x, y = beats_for("sv:ProWSyn")
    params = sampler_parameters("sv:ProWSyn[L=3,n_neighbors=3]", 7)
    assert params["oversampler_n_neighbors"] == 3 and params["oversampler_L"] == 3 and params["random_state"] == 7
    assert sampler_parameters("sv:ProWSyn", 7)["oversampler_n_neighbors"] == 5
    assert params["smote_variants"] and params["strategy"] == "eq_1_vs_many_successive"
    default, changed = resample("sv:ProWSyn", x, y, seed=7), resample("sv:ProWSyn[L=3,n_neighbors=3]", x, y, seed=7)
    assert not np.array_equal(default[0], changed[0])


@needs_sv
def test_sv_names_and_parameters_are_checked():
    from resampling import check_resampler

    with pytest.raises(ValueError, match="unknown sv: resampler 'Nope'; known: .*ProWSyn"):
        check_resampler("sv:Nope")
    with pytest.raises(ValueError, match="unknown parameter.*bogus.*n_neighbors"):
        check_resampler("sv:ProWSyn[bogus=1]")
    with pytest.raises(ValueError, match="strategy 'x' is not one of"):
        check_resampler("sv:ProWSyn[strategy=x]")


@needs_sv
def test_sv_sampler_that_gives_up_fails_its_cell_with_its_own_reason_and_prints_nothing(capfd):
    beats = clustered_beats(n_per_class=(60, 12, 20, 10, 15), spread=0.6, seed=3)  # no boundary beats
    x, y = beats.x[..., None], beats.y
    with pytest.raises(ResamplingError, match=r"^sv:Borderline_SMOTE1: no beats generated for class.*X_danger"):
        resample("sv:Borderline_SMOTE1", x, y, seed=0)
    resample("sv:Random_SMOTE", x, y, seed=0)
    out, err = capfd.readouterr()
    assert "INFO" not in out + err and "smote_variants" not in out + err


def test_sv_without_the_package_says_what_to_install(monkeypatch):
    import sys

    from resampling import check_resampler

    monkeypatch.setitem(sys.modules, "smote_variants", None)  # import fails as if not installed
    with pytest.raises(ValueError, match="pip install smote-variants"):
        check_resampler("sv:ProWSyn")


@pytest.mark.parametrize("name", list_resamplers())
def test_a_declared_treatment_space_names_its_samplers_parameters_and_every_grid_point_treats(name):
    """A treatment's search space holds its sampler's defaults, and both ends of its grid are samplers that
    treat (the tuner names them NAME[key=value,...], as a grid would) data with 40 beats in every minority class
    (a 6-component mixture needs 30)."""
    from resampling import canonical_name, treat, treatment_search_space

    space, defaults = treatment_search_space(name)
    if space is None:
        pytest.skip(f"{name} declares no search space (a tune cannot tune it)")
    assert space and set(space) <= set(defaults)
    beats = clustered_beats(n_per_class=(200, 40, 50, 40, 40), spread=0.6, seed=3)
    x, y = beats.x[..., None], beats.y
    for key, dim in space.items():
        assert dim.contains(defaults[key]) and defaults[key] in dim.grid(defaults[key])
        for value in (dim.grid(defaults[key])[0], dim.grid(defaults[key])[-1]):
            treated = treat(canonical_name(f"{name}[{key}={value}]"), x, y, seed=0)
            assert treated.x.dtype == np.float32 and len(treated.y) > 0


def test_the_shortcuts_treatment_and_smote_declare_what_the_issue_tunes():
    from resampling import treatment_search_space

    assert set(treatment_search_space("under_over")[0]) == {"majority_fraction", "minority_fraction"}
    assert set(treatment_search_space("smote")[0]) == {"k_neighbors"}
    assert treatment_search_space("none")[0] is None and treatment_search_space("smote[k_neighbors=3]")[1][
        "k_neighbors"] == 3
