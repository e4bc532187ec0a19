"""Learning-rate schedules: the triangular cyclical rate follows its formula, the trainer and packed training
give the same rates bit for bit (either schedule), and it is serialisable."""
import numpy as np
import pytest

from benchmark.config import TrainConfig
from benchmark.estimators.keras_estimator import learning_rate_schedule

TRIANGULAR = TrainConfig(lr_schedule="triangular", lr_min=1e-4, lr_max=3e-3, lr_cycle_steps=2000)
STEPS = [0, 1, 250, 500, 999, 1000, 1001, 1500, 1999, 2000, 2001, 3000, 7250, 10_000, 123_457]


def triangular(step, lo, hi, cycle):
    """Smith (2017): half a cycle up, half a cycle down, restarting at every cycle."""
    half = cycle / 2
    return lo + (hi - lo) * max(0.0, 1 - abs(step / half - 2 * np.floor(1 + step / cycle) + 1))


def keras_rates(cfg, steps):
    schedule = learning_rate_schedule(cfg)
    return np.array([float(schedule(np.int64(s))) for s in steps], np.float32)


def test_triangular_rate_follows_the_formula():
    rates = keras_rates(TRIANGULAR, STEPS)
    np.testing.assert_allclose(rates, [triangular(s, 1e-4, 3e-3, 2000) for s in STEPS], rtol=1e-5)
    at = dict(zip(STEPS, rates))
    assert at[0] == at[2000] == np.float32(1e-4) and at[1000] == np.float32(3e-3), "bounds at 0, half and one cycle"
    assert at[500] == pytest.approx(1.55e-3) and at[1500] == pytest.approx(1.55e-3)


@pytest.mark.parametrize("cfg", [TRIANGULAR, TrainConfig(lr_decay_steps=300)], ids=["triangular", "step"])
def test_trainer_and_packed_training_give_the_same_rates(cfg):
    jnp = pytest.importorskip("jax.numpy")
    from benchmark.running.packed import learning_rate

    packed = np.asarray(learning_rate(jnp.asarray(STEPS, jnp.int32), cfg))
    assert packed.dtype == np.float32
    np.testing.assert_array_equal(packed, keras_rates(cfg, STEPS))


def test_triangular_schedule_is_serialisable_and_drives_the_optimizer():
    import keras

    from benchmark.estimators.keras_estimator import compile_model
    from models import build_model

    schedule = learning_rate_schedule(TRIANGULAR)
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert type(again) is type(schedule) and float(again(777)) == float(schedule(777))
    cfg = TrainConfig(lr_schedule="triangular", lr_min=1e-4, lr_max=1e-3, lr_cycle_steps=8)
    model = compile_model(build_model("mlp"), cfg)
    x = np.random.default_rng(0).random((4, 187, 1), dtype=np.float32)
    for _ in range(3):
        model.train_on_batch(x, np.arange(4))
    assert float(model.optimizer.learning_rate) == pytest.approx(triangular(3, 1e-4, 1e-3, 8), rel=1e-6)
