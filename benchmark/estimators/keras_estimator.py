"""The Keras estimator: a registered builder's model, compiled and trained for a fixed number of optimizer
steps with early stopping on validation macro F1, saved in Keras' native format (no pickle).

Only ``keras.*`` is used, so it trains on the TensorFlow, JAX and PyTorch backends. Several runs of one
model can also train together in one compiled JAX step (``benchmark.running.packed``), through the same
early-stopping loop (``benchmark.estimators.base.early_stopping_loop``).
"""
from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmark.config import TrainConfig
from benchmark.estimators.base import Estimator, LoopState, MemberRecord, early_stopping_loop, training_report
from benchmark.estimators.control import (RunControl, TimeLimitReached, anytime_limits, due_fractions, indexed,
                                          load_checkpoint, save_checkpoint, unindexed)
from benchmark.metrics.evaluator import macro_f1

log = logging.getLogger(__name__)

PREDICT_BATCH = 2048
ANYTIME_ARRAYS = ("predictions", "probabilities")  # what an anytime checkpoint keeps of the test part


class BatchStream:
    """Index arrays of ``batch_size``, epoch after epoch of fresh seeded permutations (the tail of an epoch is
    carried into the next); its :meth:`state` restores it to the same place in the stream."""

    def __init__(self, n: int, batch_size: int, rng: np.random.Generator):
        self.n, self.batch_size, self.rng = n, batch_size, rng
        self.order, self.pos = rng.permutation(n), 0

    def next(self) -> np.ndarray:
        if self.pos + self.batch_size > self.n:  # start a new epoch; the tail of the old one is carried over
            self.order, self.pos = np.concatenate([self.order[self.pos:], self.rng.permutation(self.n)]), 0
        batch = self.order[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return batch

    def state(self) -> tuple[dict, np.ndarray]:
        """(the JSON-able state, the current order)."""
        return {"rng": self.rng.bit_generator.state, "pos": self.pos}, self.order.copy()

    def restore(self, state: dict, order: np.ndarray) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.order, self.pos = np.asarray(order), int(state["pos"])


def batch_indices(n: int, steps: int, batch_size: int, rng: np.random.Generator):
    """Yield index arrays of ``batch_size`` for ``steps`` steps (a :class:`BatchStream`)."""
    stream = BatchStream(n, batch_size, rng)
    for _ in range(steps):
        yield stream.next()


def learning_rate_schedule(cfg: TrainConfig):
    """The schedule ``cfg`` names: the step decay (Keras' staircase ``ExponentialDecay``) or the triangular
    cyclical rate (``benchmark.estimators.schedules``)."""
    import keras

    if cfg.lr_schedule == "triangular":
        from benchmark.estimators.schedules import TriangularSchedule

        return TriangularSchedule(cfg.lr_min, cfg.lr_max, cfg.lr_cycle_steps)
    return keras.optimizers.schedules.ExponentialDecay(
        cfg.learning_rate, decay_steps=cfg.lr_decay_steps, decay_rate=cfg.lr_decay, staircase=True)


def compile_model(model, cfg: TrainConfig, jit_compile: bool = False):
    import keras

    schedule = learning_rate_schedule(cfg)
    model.compile(optimizer=keras.optimizers.Adam(schedule, beta_1=0.9, beta_2=0.999),
                  loss="sparse_categorical_crossentropy", jit_compile=jit_compile)
    return model


def predict_probabilities(model, x: np.ndarray) -> np.ndarray:
    """Class probabilities (n, classes) of beats ``x``, (n, length) or (n, length, 1): the one function that
    predicts with a trained Keras model (trainer, packs and ``evaluate``), so a saved model reproduces its
    run's predictions exactly on the same backend and hardware."""
    import keras

    x = x[..., None] if x.ndim == 2 else x
    if keras.backend.backend() == "tensorflow":
        # a fresh trace for every call: once a tf.function has seen a second batch size (validation's) it
        # retraces for any batch size, and that graph rounds some models (ecgtransform) differently in the
        # last bit from the first trace a loaded model predicts the test part with
        model.predict_function = None
    return np.asarray(model.predict(x, batch_size=PREDICT_BATCH, verbose=0))


def model_bytes(model_name: str, input_shape: tuple[int, ...], weights: list, n_classes: int = 5,
                features: int = 0, hyperparameters: dict | None = None) -> bytes:
    """The ``.keras`` file of a fresh, uncompiled ``model_name`` (built with ``hyperparameters``, else its
    defaults) holding ``weights`` (``get_weights`` order)."""
    from models import build_model

    model = build_model(model_name, input_shape=input_shape, n_classes=n_classes, features=features,
                        **(hyperparameters or {}))
    model.set_weights(weights)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "saved.keras"  # Keras needs the suffix
        model.save(path)
        return path.read_bytes()


def load_model(path: Path):
    import keras

    return keras.saving.load_model(path, compile=False)


def model_from_bytes(data: bytes):
    """The model of a ``.keras`` file's bytes (``model_bytes``), loaded as ``load_model`` loads a file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "saved.keras"
        path.write_bytes(data)
        return load_model(path)


class KerasEstimator(Estimator):
    """A fresh model built and compiled for every run (no optimizer state carried over), seeded, trained on
    successive seeded permutations of the training part for ``cfg.steps`` optimizer updates whatever its
    size, validated every ``eval_every`` steps; the best validation weights are the ones kept and saved."""

    kind, packable, uses_steps, suffix = "keras", True, True, ".keras"

    def __init__(self, model_name, input_shape, n_classes, seed, model=None, features=0, hyperparameters=None):
        super().__init__(model_name, input_shape, n_classes, seed, features, hyperparameters)
        self.model = model
        self.weights: list | None = None

    def fit(self, x, y, weights, val_x, val_y, cfg, jit_compile=False, on_check=None, control=None) -> dict:
        import keras

        from models import build_model

        keras.utils.set_random_seed(self.seed)
        model = compile_model(build_model(self.model_name, input_shape=self.input_shape, n_classes=self.n_classes,
                                          features=self.features, **self.hyperparameters), cfg, jit_compile)
        return self.train(model, x, y, weights, val_x, val_y, cfg, on_check, control)

    def train(self, model, x, y, weights, val_x, val_y, cfg, on_check=None, control: RunControl | None = None) -> dict:
        """Train an already compiled ``model`` (a fresh build, or one holding another run's weights: transfer
        learning) as :meth:`fit` trains its own: the run's seeded batches, ``cfg.steps`` optimizer steps, the
        one early-stopping loop on validation macro F1 (``on_check``: a tuning trial's pruning hook), the best
        weights kept. ``control``: its checkpoints, deadline and anytime predictions
        (``benchmark.estimators.control``). Returns the training report."""
        control = control or RunControl()
        batches = BatchStream(len(y), cfg.batch_size, np.random.default_rng(self.seed))
        best: list = []
        anytime: dict[float, dict] = {}  # fraction -> its best step, validation score and test probabilities
        resumed = self._resume(model, batches, best, anytime, control)

        def train_chunk(steps, active):
            idx = np.concatenate([batches.next() for _ in range(steps)])
            fit = model.fit(x[idx], y[idx], batch_size=cfg.batch_size, epochs=1, shuffle=False, verbose=0,
                            sample_weight=None if weights is None else weights[idx])
            return [fit.history["loss"][-1]]

        def validate(active):
            return [macro_f1(val_y, np.argmax(predict_probabilities(model, val_x), axis=1), self.n_classes)]

        def keep_best(improved):
            best[:] = [model.get_weights()]

        def after_check(state: LoopState):
            [record], finished = state.records, not state.active.any() or state.step >= cfg.steps
            if control.test_x is not None:
                for fraction, limit in due_fractions(state.step, cfg.eval_every, cfg.steps, control.fractions,
                                                     anytime, finished):
                    probabilities = self._predict_with(model, best[0], control.test_x)
                    anytime[fraction] = {"step_limit": limit, "best_step": record.best_step,
                                         "best_val_macro_f1": record.best_val_macro_f1,
                                         "predictions": np.argmax(probabilities, axis=1).astype(np.int8),
                                         "probabilities": probabilities.astype(np.float16)}
            if finished or control.checkpoint is None:
                return
            self._checkpoint(model, batches, best, anytime, state, control.checkpoint, resumed)
            if control.past_deadline():
                raise TimeLimitReached(f"stopped at step {state.step} of {cfg.steps} after the time limit; "
                                       f"its checkpoint resumes it")

        check = None if on_check is None else lambda step, scores: on_check(step, float(scores[0]))
        [record], times = early_stopping_loop(1, cfg, train_chunk, validate, keep_best, check,
                                              resume=resumed.get("loop"), after_check=after_check)
        if record.failed is not None:
            raise record.failed
        model.set_weights(best[0])
        self.model, self.weights = model, best[0]
        report = training_report(record, cfg, int(model.optimizer.iterations), int(model.count_params()),
                                 {"train": times.train + resumed.get("train_seconds", 0.0),
                                  "validation": times.validation + resumed.get("validation_seconds", 0.0)})
        if resumed.get("loop"):
            report["resumed_at"] = resumed["resumed_at"]
        if control.test_x is not None:
            report["anytime"] = [{"fraction": f, **anytime.get(f, {"step_limit": limit})}
                                 for f, limit in anytime_limits(cfg.steps, control.fractions)]
        return report

    @staticmethod
    def _predict_with(model, weights: list, x: np.ndarray) -> np.ndarray:
        """Class probabilities of ``x`` by ``weights``, the model's own weights left as they were."""
        current = model.get_weights()
        model.set_weights(weights)
        probabilities = predict_probabilities(model, x)
        model.set_weights(current)
        return probabilities

    @staticmethod
    def _checkpoint(model, batches: BatchStream, best: list, anytime: dict, state: LoopState, folder, resumed: dict):
        stream, order = batches.state()
        arrays = {**indexed("model", [v.numpy() for v in model.variables]),
                  **indexed("optimizer", [v.numpy() for v in model.optimizer.variables]),
                  **indexed("best", best[0]), "order": order,
                  **{f"anytime{f}_{k}": a[k] for f, a in anytime.items() for k in ANYTIME_ARRAYS}}
        record = state.records[0]
        times = (resumed.get("train_seconds", 0.0) + state.times.train,
                 resumed.get("validation_seconds", 0.0) + state.times.validation)
        save_checkpoint(folder, arrays, {
            "step": state.step, "record": record.state(), "active": bool(state.active[0]), "stream": stream,
            "anytime": {str(f): {k: v for k, v in a.items() if k not in ANYTIME_ARRAYS} for f, a in anytime.items()},
            "resumed_at": resumed.get("resumed_at", []), "saved": time.time(),
            "train_seconds": times[0], "validation_seconds": times[1]})

    @staticmethod
    def _resume(model, batches: BatchStream, best: list, anytime: dict, control: RunControl) -> dict:
        """Restore the run from its checkpoint, if it has one; what ``train`` needs to go on (empty: none)."""
        found = load_checkpoint(control.checkpoint)
        if found is None:
            return {}
        arrays, state = found
        variables = unindexed("model", arrays)
        if len(variables) != len(model.variables):
            raise ValueError(f"{control.checkpoint}: the checkpoint holds {len(variables)} variables, the model "
                             f"{len(model.variables)}; it belongs to another model")
        for variable, value in zip(model.variables, variables):
            variable.assign(value)
        model.optimizer.build(model.trainable_variables)
        for variable, value in zip(model.optimizer.variables, unindexed("optimizer", arrays)):
            variable.assign(value)
        batches.restore(state["stream"], arrays["order"])
        best[:] = [unindexed("best", arrays)]
        for f, about in state["anytime"].items():
            anytime[float(f)] = {**about, **{k: arrays[f"anytime{float(f)}_{k}"] for k in ANYTIME_ARRAYS}}
        step = int(state["step"])
        log.info("    resumed from its checkpoint at step %d", step)
        return {"loop": LoopState(step, [MemberRecord.from_state(state["record"])], np.array([state["active"]])),
                "resumed_at": [*state["resumed_at"], step], "train_seconds": state["train_seconds"],
                "validation_seconds": state["validation_seconds"]}

    def predict_proba(self, x):
        return predict_probabilities(self.model, x)

    def save(self) -> bytes:
        """The ``.keras`` file of the kept weights in a fresh build of the model (no optimizer state)."""
        weights = self.weights if self.weights is not None else self.model.get_weights()
        return model_bytes(self.model_name, self.input_shape, weights, self.n_classes, self.features,
                           self.hyperparameters)

    @classmethod
    def load(cls, model_name, path, n_classes=None):
        model = load_model(Path(path))
        return cls(model_name, tuple(model.input_shape[1:]), int(model.output_shape[-1]), seed=0, model=model)
