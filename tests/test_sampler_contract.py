"""The project's samplers keep imbalanced-learn's contract: its own sampler checks pass (or are declared not to
apply, with the reason, as imbalanced-learn declares them), they work inside its Pipeline, and they give the
beats they gave before they became imbalanced-learn samplers (#42)."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from imblearn.utils.estimator_checks import parametrize_with_checks

from resampling import list_resamplers, make_sampler, treat
from tests.conftest import clustered_beats

DIGESTS = Path(__file__).parent / "data" / "treatment_digests.json"


def _variants_installed() -> bool:
    try:
        import smote_variants  # noqa: F401
    except ImportError:
        return False
    return True


SAMPLERS = {name: make_sampler(name, 0) for name in list_resamplers()}
if _variants_installed():
    SAMPLERS["sv:SMOTE"] = make_sampler("sv:SMOTE", 0)

# Checks that do not apply, by sampler class, each with its reason (imbalanced-learn's expected_failed_checks)
NOT_APPLICABLE = {
    "GaussianMixtureOversampler": {
        "check_samplers_fit": "the check's minority class has 10 samples; a 3-component mixture needs 15 and is "
                              "refused with a ResamplingError naming the class and what to do",
    },
    "VariantOversampler": {
        "check_samplers_sampling_strategy_fit_resample": "smote_variants sets every class's target itself (all to "
                                                         "the majority's size); another sampling_strategy is refused",
    },
}


DENSE = {"check_samplers_pandas_sparse": "a dense-beats sampler (its tags say sparse=False): a sparse DataFrame "
                                         "is refused with scikit-learn's error, as a sparse matrix is"}


def expected_failed_checks(sampler):
    from imblearn.utils._tags import get_tags

    dense = {} if get_tags(sampler).input_tags.sparse else DENSE
    return {**dense, **NOT_APPLICABLE.get(type(sampler).__name__, {})}


@parametrize_with_checks(list(SAMPLERS.values()), expected_failed_checks=expected_failed_checks)
def test_every_sampler_passes_imbalanced_learns_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_works_in_an_imbalanced_learn_pipeline(name):
    from imblearn.pipeline import Pipeline
    from sklearn.linear_model import LogisticRegression

    beats = clustered_beats(n_per_class=(120, 30, 40, 20, 30), seed=4, spread=2.5)
    pipeline = Pipeline([("treatment", make_sampler(name, 0)), ("clf", LogisticRegression(max_iter=200))])
    pipeline.fit(beats.x, beats.y)
    assert pipeline.predict(beats.x).shape == beats.y.shape
    assert set(pipeline.predict(beats.x)) <= set(beats.y)


def digest(treated) -> str:
    h = hashlib.sha256()
    weights = np.zeros(0) if treated.weights is None else treated.weights.astype(np.float32)
    for a in (treated.x.astype(np.float32), treated.y.astype(np.int8), weights):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("key", sorted(json.loads(DIGESTS.read_text())))
def test_a_treatment_gives_the_beats_it_gave_before_it_was_an_imbalanced_learn_sampler(key):
    """tests/data/treatment_digests.json: every treatment's output on these beats with the code of af6243d, before
    the samplers were rewritten as imbalanced-learn samplers."""
    name, seed = key.rsplit("|", 1)
    features = 0
    if "|features=" in name:
        name, features = name.split("|features=")[0], int(name.split("|features=")[1])
    if name.startswith("sv:") and not _variants_installed():
        pytest.skip("smote-variants is not installed")
    beats = clustered_beats(n_per_class=(300, 40, 60, 30, 45), seed=3, spread=2.5)
    treated = treat(name, beats.x[..., None], beats.y, int(seed), features=features)
    assert digest(treated) == json.loads(DIGESTS.read_text())[key]
