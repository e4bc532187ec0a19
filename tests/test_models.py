"""Generic checks of every registered model (as timm checks every model it lists): builds fresh and
uncompiled, outputs (None, 5) probabilities, trains a step, is seeded, and saves and loads losslessly."""
import numpy as np
import pytest

from models import build_model, builder_arguments, list_models


def test_the_published_benchmarks_models_are_registered():
    from benchmark.config import BENCHMARK_MODELS
    assert set(BENCHMARK_MODELS) <= set(list_models())


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


@pytest.mark.parametrize("name", list_models())
def test_model_is_seeded_and_its_saved_file_predicts_the_same(name, tmp_path):
    import keras

    from benchmark.running.saving import load_model, model_bytes

    keras.utils.set_random_seed(3)
    a = build_model(name)
    keras.utils.set_random_seed(3)
    b = build_model(name)
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights())), "same seed, same weights"
    path = tmp_path / "model.keras"
    path.write_bytes(model_bytes(name, (187, 1), a.get_weights()))
    x = np.random.default_rng(1).random((16, 187, 1), dtype=np.float32)
    assert np.array_equal(load_model(path).predict(x, verbose=0), a.predict(x, verbose=0))


@pytest.mark.parametrize("name", list_models())
def test_every_hyperparameter_has_a_default_and_is_part_of_the_identity(name):
    args = builder_arguments(name)
    assert all(v is not None for v in args.values())
    with pytest.raises(TypeError, match="no hyperparameter"):
        builder_arguments(name, not_a_hyperparameter=1)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(KeyError, match="known models: .*resnet"):
        build_model("transformer")


def test_none_overrides_keep_the_builders_defaults():
    default = build_model("mlp")
    assert build_model("mlp", units=None).count_params() == default.count_params()
    assert build_model("mlp", units=16).count_params() < default.count_params()
    assert builder_arguments("mlp", units=16) == {"units": 16, "dropout": 0.2}
