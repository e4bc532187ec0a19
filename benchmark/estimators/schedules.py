"""Learning-rate schedules of the Keras estimator other than Keras' own (``ExponentialDecay`` is the step
decay): the triangular cyclical rate. ``benchmark.running.packed`` writes the same formula with jax.numpy,
and a test holds the two to the same numbers."""
import keras


@keras.saving.register_keras_serializable(package="benchmark")
class TriangularSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Smith's (2017) triangular cyclical rate: ``lr_min`` at step 0, linearly up to ``lr_max`` at half a
    cycle, linearly back down to ``lr_min`` at ``cycle_steps``, and again, in float32:
    ``lr_min + (lr_max − lr_min) · (cycle − |2·(step mod cycle) − cycle|) / cycle``."""

    def __init__(self, lr_min: float, lr_max: float, cycle_steps: int):
        self.lr_min, self.lr_max, self.cycle_steps = lr_min, lr_max, cycle_steps

    def __call__(self, step):
        ops = keras.ops
        # integers, then one multiplication by a float32 reciprocal: XLA's float division is not IEEE's
        # (1500 / 2000 gives 0.75000006 on JAX), so a division would make TensorFlow and JAX differ
        distance = ops.abs(2 * ops.mod(ops.cast(step, "int32"), self.cycle_steps) - self.cycle_steps)
        rise = ops.cast(self.cycle_steps - distance, "float32") * ops.cast(1 / self.cycle_steps, "float32")
        lr_min = ops.cast(self.lr_min, "float32")
        return lr_min + (ops.cast(self.lr_max, "float32") - lr_min) * rise  # rise: 0 → 1 → 0 over one cycle

    def get_config(self):
        return {"lr_min": self.lr_min, "lr_max": self.lr_max, "cycle_steps": self.cycle_steps}
