"""Every registered model: builds fresh, outputs (None, 5) probabilities, trains a step."""
import numpy as np
import pytest

from models import build_model, list_models


def test_registry_lists_the_four_models():
    assert set(list_models()) == {"mlp", "cnn", "lstm", "resnet"}


@pytest.mark.parametrize("name", list_models())
def test_model_builds_uncompiled_and_fits_a_step(name):
    model = build_model(name)
    assert model.output_shape == (None, 5)
    assert not model.compiled, "builders return uncompiled models; the trainer compiles"
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((8, 187, 1), dtype=np.float32)
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(x, np.arange(8) % 5)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights())), "a step changed weights"
    proba = model.predict(x, verbose=0)
    assert proba.shape == (8, 5) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(KeyError, match="known models: .*resnet"):
        build_model("transformer")


def test_none_overrides_keep_the_builders_defaults():
    default = build_model("mlp")
    assert build_model("mlp", units=None).count_params() == default.count_params()
    assert build_model("mlp", units=16).count_params() < default.count_params()
