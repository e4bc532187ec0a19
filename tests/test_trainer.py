"""Trainer: fixed optimizer steps whatever the training-set size, seeded, best weights kept (and tested)."""
import numpy as np
import pytest

from benchmark.config import TrainConfig
from benchmark.estimators.keras_estimator import batch_indices, model_from_bytes, predict_probabilities
from benchmark.metrics.evaluator import macro_f1
from benchmark.running.trainer import train_and_evaluate
from tests.conftest import clustered_beats

CFG = TrainConfig(steps=30, batch_size=16, eval_every=10, patience=100)


@pytest.fixture(scope="module")
def parts():
    beats = clustered_beats(n_per_class=(120, 20, 30, 15, 25), seed=1)
    test = clustered_beats(n_per_class=(60, 10, 15, 8, 12), seed=2)
    x = beats.x[..., None]
    return x, beats.y, x[::3], beats.y[::3], test.x[..., None], test.y


def test_batches_cover_epochs_without_repeats():
    batches = list(batch_indices(10, steps=5, batch_size=4, rng=np.random.default_rng(0)))
    assert len(batches) == 5 and all(len(b) == 4 for b in batches)
    first_epoch = np.concatenate(batches)[:8]
    assert len(set(first_epoch.tolist())) == 8


@pytest.mark.parametrize("repeat", [1, 4])
def test_same_number_of_optimizer_steps_whatever_the_set_size(parts, repeat):
    x, y, vx, vy, tx, ty = parts
    result = train_and_evaluate("mlp", np.repeat(x, repeat, axis=0), np.repeat(y, repeat), vx, vy, tx, ty,
                                CFG, seed=0)
    assert result["optimizer_steps"] == CFG.steps == result["steps_trained"]
    assert [h["step"] for h in result["history"]] == [10, 20, 30]


def test_same_seed_gives_identical_metrics(parts):
    # mlp: its dropout draws depend on the seed (every model's seeded initial weights and saved file are
    # checked by tests/test_models.py)
    a = train_and_evaluate("mlp", *parts, CFG, seed=3)
    b = train_and_evaluate("mlp", *parts, CFG, seed=3)
    c = train_and_evaluate("mlp", *parts, CFG, seed=4)
    assert a["test"] == b["test"] and a["history"] == b["history"]
    assert a["history"] != c["history"]


def test_early_stop_keeps_the_best_validation_weights_and_tests_them():
    beats = clustered_beats(n_per_class=(120, 20, 30, 15, 25), seed=1, spread=0.5)  # noisy: scores go down too
    test = clustered_beats(n_per_class=(60, 10, 15, 8, 12), seed=2, spread=0.5)
    x = beats.x[..., None]
    parts = x, beats.y, x[::3], beats.y[::3], test.x[..., None], test.y
    vx, vy, tx = parts[2], parts[3], parts[4]
    cfg = TrainConfig(steps=200, batch_size=16, eval_every=5, patience=2, learning_rate=0.05)
    result = train_and_evaluate("mlp", *parts, cfg, seed=0)
    scores = [h["val_macro_f1"] for h in result["history"]]
    assert result["best_val_macro_f1"] == max(scores)
    assert result["stopped_early"] == (result["steps_trained"] < 200)
    if result["stopped_early"]:
        assert result["steps_trained"] - result["best_step"] == 2 * 5
    assert scores[-1] < max(scores), "the lr is high enough that the last check is not the best one"
    saved = model_from_bytes(result["model"])
    val_pred = np.argmax(predict_probabilities(saved, vx), axis=1)
    assert macro_f1(vy, val_pred) == result["best_val_macro_f1"], "the saved model holds the best weights"
    assert np.array_equal(np.argmax(predict_probabilities(saved, tx), axis=1), result["test_predictions"]), \
        "the test part is scored by the best weights"
    assert np.allclose(result["test_probabilities"].astype(np.float32), predict_probabilities(saved, tx), atol=1e-3)
    assert result["test"]["macro_f1"] > 0.5, "clustered classes are learnable"


@pytest.mark.slow  # the fast suite stays under its 5-minute budget
def test_class_weights_change_the_loss_and_unit_weights_do_not(parts):
    from resampling import loss_weights

    x, y, *held_out = parts
    plain = train_and_evaluate("mlp", x, y, *held_out, CFG, seed=0)
    ones = train_and_evaluate("mlp", x, y, *held_out, CFG, seed=0, sample_weight=np.ones(len(y), np.float32))
    weighted = train_and_evaluate("mlp", x, y, *held_out, CFG, seed=0, sample_weight=loss_weights("class_weight", y))
    assert ones["history"] == plain["history"], "a weight of 1 for every beat is no weighting"
    assert weighted["history"][0]["train_loss"] != plain["history"][0]["train_loss"]


@pytest.mark.slow  # the fast suite stays under its 5-minute budget; .ci/run runs it
def test_training_a_given_compiled_model_is_what_fit_does_and_starts_from_its_weights(parts):
    """``KerasEstimator.train``: the loop of ``fit`` on a model the caller built and compiled (transfer learning
    hands it a saved run's weights), so a normal run is unchanged and a given model is trained, not rebuilt."""
    import keras

    from benchmark.estimators import make_estimator
    from benchmark.estimators.keras_estimator import compile_model
    from models import build_model

    x, y, vx, vy, _, _ = parts
    fitted = make_estimator("mlp", x.shape[1:], 5, seed=3)
    by_fit = fitted.fit(x, y, None, vx, vy, CFG)
    given = make_estimator("mlp", x.shape[1:], 5, seed=3)
    keras.utils.set_random_seed(3)
    by_train = given.train(compile_model(build_model("mlp", input_shape=x.shape[1:], n_classes=5), CFG),
                           x, y, None, vx, vy, CFG)
    assert by_train["history"] == by_fit["history"] and by_train["optimizer_steps"] == CFG.steps
    assert all(np.array_equal(a, b) for a, b in zip(fitted.weights, given.weights))
    start = [w + 0.5 for w in fitted.weights]  # weights no fresh build has
    model = build_model("mlp", input_shape=x.shape[1:], n_classes=5)
    model.set_weights(start)
    still = TrainConfig(steps=4, batch_size=16, eval_every=2, patience=5, learning_rate=1e-12)
    make_estimator("mlp", x.shape[1:], 5, seed=3).train(compile_model(model, still), x, y, None, vx, vy, still)
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(model.get_weights(), start)), \
        "a given model keeps its own weights as the start (a learning rate of ~0 leaves them)"
