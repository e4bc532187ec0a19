"""Generic checks of every registered model (as timm checks every model it lists): Keras builders build
fresh and uncompiled, output (None, n_classes) probabilities and train a step; every model, whatever its
estimator, fits through the estimator protocol, is seeded, gives probabilities for every class of its
task, and saves and loads losslessly in a safe format."""
import functools
import re

import numpy as np
import pytest

from benchmark.config import TrainConfig
from models import build_model, builder_arguments, generic_test_params, list_models, registry
from tests.conftest import clustered_beats

HEAVY = {"ecgtransform", "cnn_lstm"}  # their generic fits take ~10 s each: slow, run by .ci/run


def _marked(names):
    """The registry's models as parameters, the heavy ones marked slow (the fast suite stays under 5 min)."""
    return [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in names]


KERAS = _marked(list_models("keras"))
# OPEN: on TensorFlow (CPU) a loaded ecgtransform's probabilities can differ from the trained model's in the
# last bit, depending on which tests ran before (in isolation they are equal); its predicted classes agree
LAST_BIT_OPEN = {"ecgtransform"}


def fit_cheaply(name, monkeypatch):
    """Registry entry of ``name`` built with its ``test_params`` (as aeon's ``_get_test_params``): the fits
    below go through the estimator, which builds with the builder's defaults."""
    entry = registry._MODELS[name]
    if entry.test_params:
        builder = functools.partial(entry.builder, **entry.test_params)  # its signature shows the new defaults
        monkeypatch.setitem(registry._MODELS, name, registry.ModelEntry(builder, entry.estimator))


def test_the_published_benchmarks_models_are_registered():
    from benchmark.config import BENCHMARK_MODELS
    assert set(BENCHMARK_MODELS) <= set(list_models())


@pytest.mark.parametrize("name", KERAS)
def test_keras_model_builds_uncompiled_and_fits_a_step(name):
    params = generic_test_params(name)
    assert build_model(name, n_classes=2, **params).output_shape == (None, 2), "builders take the task's n_classes"
    model = build_model(name, **params)
    assert model.output_shape == (None, 5)
    assert not model.compiled, "builders return uncompiled models; the trainer compiles"
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((8, 187, 1), dtype=np.float32)
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(x, np.arange(8) % 5)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights())), "a step changed weights"
    proba = model.predict(x, verbose=0)
    assert proba.shape == (8, 5) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)


@pytest.mark.parametrize("name", KERAS)
def test_appended_features_reach_every_keras_model_and_survive_saving(name, tmp_path):
    """A truncated waveform (140 samples) and nine appended features (statistics, RR intervals): the output
    depends on both parts of the input, and the saved file, loaded in safe mode, predicts the same."""
    import keras

    params = generic_test_params(name)
    model = build_model(name, input_shape=(149, 1), n_classes=5, features=9, **params)
    assert model.output_shape == (None, 5)
    rng = np.random.default_rng(0)
    x = rng.random((4, 149, 1), dtype=np.float32)
    other_features, other_wave = x.copy(), x.copy()
    other_features[:, 140:] += 1.0
    other_wave[:, :140] = rng.random((4, 140, 1), dtype=np.float32)
    base = np.asarray(model(x, training=False))
    assert not np.allclose(base, np.asarray(model(other_features, training=False))), "the features reach the output"
    # an untrained ecgtransform (batch norms at their initial statistics, layer norms) barely moves with its
    # input: the waveform changes its output only in the last bits, so the check is for any change at all
    assert not np.array_equal(base, np.asarray(model(other_wave, training=False))), "the waveform reaches the output"
    if not registry._MODELS[name].flat:
        assert model.get_layer("waveform_and_features") is not None
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=False, safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(x, training=False)), base, rtol=1e-5, atol=1e-6)


def test_features_need_a_dense_classifier_to_join():
    import keras

    def odd(input_shape, n_classes):
        inputs = keras.Input(shape=input_shape)
        return keras.Model(inputs, keras.layers.Softmax()(keras.layers.Flatten()(inputs)[:, :n_classes]))

    with pytest.raises(TypeError, match="not a Dense classifier"):
        registry.with_features(lambda shape: odd(shape, 5), (20, 1), 3)


@pytest.mark.parametrize("name", _marked(list_models()))
def test_every_model_fits_through_its_estimator_seeded_and_saves_safely(name, tmp_path, monkeypatch):
    from benchmark.estimators import estimator_class, load_estimator, make_estimator

    fit_cheaply(name, monkeypatch)
    beats = clustered_beats(n_per_class=(40, 10, 12, 8, 10), seed=1)
    x, y = beats.x[..., None], beats.y
    y[y == 3] = 0  # a class absent from the training part still gets its (zero) column
    cfg = TrainConfig(steps=2, batch_size=16, eval_every=2, patience=5)
    fitted = []
    # Keras models: seeding is checked below and in tests/test_trainer.py, so one (costly) fit here
    for _ in range(1 if estimator_class(name).kind == "keras" else 2):
        estimator = make_estimator(name, x.shape[1:], 5, seed=3)
        report = estimator.fit(x, y, None, x[::2], y[::2], cfg)
        assert report["best_val_macro_f1"] >= 0 and report["history"]
        assert report["optimizer_steps"] == (cfg.steps if estimator_class(name).uses_steps else 0)
        fitted.append(estimator)
    proba = fitted[0].predict_proba(x)
    assert proba.shape == (len(x), 5) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert np.array_equal(proba, fitted[-1].predict_proba(x)), "same seed, same model"
    path = tmp_path / f"model{fitted[0].suffix}"
    data = fitted[0].save()
    assert b"pickle" not in data[:64] and not data.startswith(b"\x80"), "never a pickle"
    path.write_bytes(data)
    loaded = load_estimator(name, path, 5).predict_proba(x)
    if name in LAST_BIT_OPEN:
        assert np.array_equal(loaded.argmax(axis=1), proba.argmax(axis=1))
        np.testing.assert_allclose(loaded, proba, rtol=1e-5)
    else:
        assert np.array_equal(loaded, proba)


@pytest.mark.parametrize("name", KERAS)
def test_keras_model_is_seeded_and_its_saved_file_predicts_the_same(name, tmp_path):  # at its defaults
    import keras

    from benchmark.estimators.keras_estimator import load_model, model_bytes

    keras.utils.set_random_seed(3)
    a = build_model(name)
    keras.utils.set_random_seed(3)
    b = build_model(name)
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights())), "same seed, same weights"
    path = tmp_path / "model.keras"
    path.write_bytes(model_bytes(name, (187, 1), a.get_weights()))
    x = np.random.default_rng(1).random((16, 187, 1), dtype=np.float32)
    assert np.array_equal(load_model(path).predict(x, verbose=0), a.predict(x, verbose=0))


def _other(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    return f"{value}-other"


@pytest.mark.parametrize("name", list_models())
def test_every_hyperparameter_has_a_default_and_is_part_of_the_identity(name, monkeypatch):
    import inspect

    from benchmark.config import GRIDS
    from benchmark.running.plan import GridData, run_identity
    from benchmark.config import config_hash
    from models import registry

    args = builder_arguments(name)
    assert all(v is not None for v in args.values())
    with pytest.raises(TypeError, match="no hyperparameter"):
        builder_arguments(name, not_a_hyperparameter=1)
    beats = clustered_beats(n_per_class=(10, 2, 2, 2, 2))
    data = GridData(beats, beats, beats, key="k", source="synthetic")
    grid = GRIDS["smoke"]
    base = run_identity(grid, data, name, "none", 0)
    assert base["builder"] == args
    entry = registry._MODELS[name]
    for param, value in args.items():  # a builder whose default differs is another run
        signature = inspect.signature(entry.builder)
        changed = signature.replace(parameters=[p.replace(default=_other(value)) if p.name == param else p
                                                for p in signature.parameters.values()])
        wrapper = lambda **kw: entry.builder(**kw)  # noqa: E731
        wrapper.__signature__ = changed
        monkeypatch.setitem(registry._MODELS, name, registry.ModelEntry(wrapper, entry.estimator))
        other = run_identity(grid, data, name, "none", 0)
        assert other["builder"][param] == _other(value) and config_hash(other) != config_hash(base), param
    monkeypatch.setitem(registry._MODELS, name, entry)


@pytest.mark.parametrize("name", [n for n in list_models() if generic_test_params(n)])
def test_test_params_are_hyperparameters_and_make_another_model(name):
    params = generic_test_params(name)
    assert set(params) <= set(builder_arguments(name)) and builder_arguments(name, **params) != builder_arguments(name)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(KeyError, match="known models: .*resnet"):
        build_model("transformer")


def test_none_overrides_keep_the_builders_defaults():
    default = build_model("mlp")
    assert build_model("mlp", units=None).count_params() == default.count_params()
    assert build_model("mlp", units=16).count_params() < default.count_params()
    assert builder_arguments("mlp", units=16) == {"units": 16, "dropout": 0.2}


@pytest.mark.parametrize("n_classes", [2, 5])
def test_ecgtransform_is_the_published_design(n_classes):
    import keras

    model = build_model("ecgtransform", n_classes=n_classes)
    assert model.output_shape == (None, n_classes)
    # 187 samples leave 25 time steps (the encoder's d_model) for 128 channel tokens: 5 heads of key_dim 5, and
    # three encoder layers whose weights serve the forward and the time-reversed pass alike
    attention = [layer for layer in model.layers if isinstance(layer, keras.layers.MultiHeadAttention)]
    assert [(a.num_heads, a.key_dim) for a in attention] == [(5, 5)] * 3
    tokens = next(layer for layer in model.layers if isinstance(layer, keras.layers.Permute))
    assert tuple(tokens.output.shape) == (None, 128, 25)
    assert model.count_params() == 727_695 + 129 * n_classes  # the count its docstring states, at 5 classes


def test_cnn_lstm_reads_the_shortened_sequence():
    import keras

    model = build_model("cnn_lstm")
    lstm, = [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]
    assert tuple(lstm.input.shape) == (None, 23, 128), "three blocks halve 187 steps thrice; 32-64-128 filters"


@pytest.mark.parametrize("layers, readout, dropout, pooling", [
    (2, "last", 0.0, None),  # the LSTM preset's: two LSTM(64), the last state read
    (1, "mean", 0.0, "GlobalAveragePooling1D"),
    (3, "max", 0.2, "GlobalMaxPooling1D"),
])
def test_lstm_stacks_its_layers_and_reads_out_as_asked(layers, readout, dropout, pooling):
    import keras

    model = build_model("lstm", layers=layers, readout=readout, dropout=dropout)
    recurrent = [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]
    assert len(recurrent) == layers
    # every layer but the last hands on its sequence; the last too when the readout pools the sequence
    assert [r.return_sequences for r in recurrent] == [True] * (layers - 1) + [readout != "last"]
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Dropout") == (layers if dropout else 0)
    assert [k for k in kinds if k.startswith("Global")] == ([pooling] if pooling else [])
    assert model.output_shape == (None, 5)


def test_the_default_lstm_is_one_layer_max_pooled_over_its_steps():
    import keras

    model = build_model("lstm")
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "LSTM", "GlobalMaxPooling1D", "Dense"]
    assert [layer.units for layer in model.layers if isinstance(layer, keras.layers.LSTM)] == [64]


def test_the_lstm_preset_keeps_the_two_layer_lstm_read_at_its_last_step():
    from benchmark.config import GRIDS
    from benchmark.running.plan import grid_directory
    from models import builder_arguments

    preset = GRIDS["lstm_first140_oversampled"]
    assert builder_arguments("lstm", **preset.hyperparameters_for("lstm"))["layers"] == 2
    assert builder_arguments("lstm", **preset.hyperparameters_for("lstm"))["readout"] == "last"
    assert grid_directory(preset) == "lstm_first140_oversampled"  # its own folder, as before
    assert GRIDS["full"].hyperparameters_for("lstm") == {}  # the benchmark's grids build the default


@pytest.mark.parametrize("bad, message", [
    ({"layers": 0}, "layers must be a whole number of at least 1, got 0"),
    ({"readout": "first"}, "readout must be one of last, mean, max, got 'first'"),
    ({"dropout": 1.0}, "dropout must be at least 0 and below 1, got 1.0"),
])
def test_lstm_refuses_settings_it_cannot_build(bad, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build_model("lstm", **bad)


def test_mlp_128_64_16_softmax_over_two_classes_is_one_sigmoid_of_the_logit_difference():
    import keras

    model = build_model("mlp_128_64_16", n_classes=2)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [d.units for d in dense] == [128, 64, 16, 2]
    x = np.random.default_rng(0).random((16, 187, 1), dtype=np.float32)
    hidden = keras.Model(model.input, dense[-1].input).predict(x, verbose=0)
    kernel, bias = dense[-1].get_weights()
    logits = hidden @ kernel + bias
    sigmoid = 1 / (1 + np.exp(-(logits[:, 1] - logits[:, 0])))
    np.testing.assert_allclose(model.predict(x, verbose=0)[:, 1], sigmoid, rtol=1e-5)


@pytest.mark.parametrize("name", list_models())
def test_every_model_declares_a_search_space_of_its_own_hyperparameters_that_builds(name):
    """The space beside each builder names only its hyperparameters and holds its defaults (the untuned
    model is a point of it); its corners and its grid points build a model of the task's output shape."""
    from models import model_search_space

    space = model_search_space(name)
    assert space is not None, f"{name} declares no search space (give its @register_model one, {{}} if none)"
    defaults = builder_arguments(name)
    assert set(space) <= set(defaults)
    assert all(dim.contains(defaults[k]) and defaults[k] in dim.grid(defaults[k]) for k, dim in space.items())
    params = generic_test_params(name)
    for corner in (0, -1):
        point = {k: dim.grid(defaults[k])[corner] for k, dim in space.items()}
        model = build_model(name, n_classes=3, **{**params, **point})
        if registry._MODELS[name].estimator == "keras":
            assert model.output_shape == (None, 3), point
        else:  # a scikit-learn model holds the sampled settings
            assert {k: model.get_params()[k] for k in ("n_estimators", "min_samples_leaf") if k in point} == \
                {k: point[k] for k in ("n_estimators", "min_samples_leaf") if k in point}


def test_a_search_space_that_does_not_fit_its_builder_is_refused_when_it_registers():
    from benchmark.search_space import Choice, IntRange

    def tiny(input_shape, n_classes, units=8):
        raise AssertionError("never built")

    with pytest.raises(TypeError, match=r"model 'tiny': its search space names 'width', which is not among its "
                                        r"parameters \(units\)"):
        registry.register_model(search_space={"width": IntRange(1, 4)})(tiny)
    with pytest.raises(ValueError, match=r"the default units=8 is outside its search space \(one of 16, 32\)"):
        registry.register_model(search_space={"units": Choice((16, 32))})(tiny)
    with pytest.raises(TypeError, match="not a Choice, IntRange or FloatRange"):
        registry.register_model(search_space={"units": (4, 8)})(tiny)
    assert "tiny" not in list_models(), "a refused model is not registered"
