"""The four ways a saved model meets the target, each the work of one transfer run (no file I/O but reading
the saved model):

- ``zero_shot``: the saved model as it is, predicting the target's test part; when the target's task groups
  the classes otherwise (binary from aami5), a target class's probability is the sum of its source classes';
- ``fine_tune``: every weight from the saved model, all of them trained at a smaller learning rate
  (``TransferConfig.fine_tune_lr``); a new head when the target has another number of classes;
- ``frozen``: the saved model's features fixed, only a new classifier head (its last Dense layer, freshly
  initialised, with the target's classes) trained;
- ``scratch``: a fresh build of the same registered model with the grid's builder arguments, trained as a run
  of the grid would be (``benchmark.running.trainer``).

Every trained strategy goes through the Keras estimator's one early-stopping loop (``KerasEstimator.train``)
with the transfer's budget, seeded batches, validation macro F1 on the target's validation part and the best
weights kept; the target's test part is predicted once, at the end. A scikit-learn model has no weights to
fine-tune or freeze: it runs zero-shot and from scratch only.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.config import TrainConfig
from benchmark.errors import DataError
from benchmark.metrics.evaluator import binary_metrics, evaluate
from benchmark.tasks import Task


class TransferError(DataError):
    """A saved model that cannot be carried to the target as asked."""


@dataclass(frozen=True)
class SourceRun:
    """A finished run of the grid whose saved model a transfer starts from."""

    run_id: str
    model: str
    resampler: str
    seed: int
    config: str  # its identity's hash
    model_path: Path
    task: Task
    builder: dict  # the builder arguments it was built with

    @property
    def cell(self) -> tuple[str, str]:
        return self.model, self.resampler


def class_map(source: Task, target: Task) -> np.ndarray | None:
    """(source classes, target classes), 1 where a source class falls in a target class (both tasks group the
    AAMI classes); None when a source class spans several target classes, so its probability cannot be given
    to one of them (binary → aami5)."""
    out = np.zeros((source.n_classes, target.n_classes), np.float32)
    for i, members in enumerate(source.groups.values()):
        homes = {j for j, held in enumerate(target.groups.values()) for c in members if c in held}
        if len(homes) != 1:
            return None
        out[i, homes.pop()] = 1
    return out


def uses_weights(model: str) -> bool:
    """Whether the saved model has weights a fine-tuning or frozen run can start from (Keras models)."""
    from benchmark.estimators import estimator_class

    return estimator_class(model).kind == "keras"


def zero_shot(source: SourceRun, test_x: np.ndarray, test_y: np.ndarray, task: Task) -> dict:
    """The saved model on the target's test part, its probabilities summed into the target's classes."""
    from benchmark.estimators import load_estimator

    mapping = class_map(source.task, task)
    if mapping is None:
        raise TransferError(f"{source.run_id}: its {source.task.name} classes cannot be mapped onto {task.name}'s "
                            f"({', '.join(task.classes)}), so it has no zero-shot prediction there")
    estimator = load_estimator(source.model, source.model_path, source.task.n_classes)
    start = time.perf_counter()
    probabilities = estimator.predict_proba(test_x) @ mapping
    return _scored(probabilities, test_y, task, time.perf_counter() - start) | {"estimator": estimator.kind}


def classifier_head(model):
    """A Keras model's head: its last Dense layer."""
    import keras

    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if not dense:
        raise TransferError(f"model {model.name!r} has no Dense layer, so it has no classifier head to replace")
    return dense[-1]


def from_source(strategy: str, source: SourceRun, input_shape: tuple[int, ...], task: Task, features: int, seed: int,
                cfg: TrainConfig, jit_compile: bool = False):
    """A compiled model for ``fine_tune`` or ``frozen``: a build of the source's model for the target's classes,
    holding the saved weights (all of them, or all but a fresh head), the head alone trainable when frozen.
    Returns (model, whether its head is new)."""
    import keras

    from benchmark.estimators.keras_estimator import compile_model, load_model
    from models import build_model

    saved = load_model(source.model_path)
    if tuple(saved.input_shape[1:]) != tuple(input_shape):
        raise TransferError(f"{source.run_id}: its saved model reads inputs of shape {tuple(saved.input_shape[1:])}, "
                            f"the target's are {tuple(input_shape)}; build the target's beats as the grid's were")
    keras.utils.set_random_seed(seed)  # the new head's initial weights are the run's
    model = build_model(source.model, input_shape=input_shape, n_classes=task.n_classes, features=features,
                        **source.builder)
    head = classifier_head(model)
    new_head = strategy == "frozen" or int(saved.output_shape[-1]) != task.n_classes
    if len(saved.layers) != len(model.layers):
        raise TransferError(f"{source.run_id}: its saved model has {len(saved.layers)} layers, a build of "
                            f"{source.model} has {len(model.layers)}; the model's code changed since the run")
    for mine, theirs in zip(model.layers, saved.layers):
        if mine is head and new_head:
            continue
        weights = theirs.get_weights()
        if [w.shape for w in weights] != [w.shape for w in mine.get_weights()]:
            raise TransferError(f"{source.run_id}: layer {theirs.name!r} of its saved model does not match a build "
                                f"of {source.model} ({[w.shape for w in weights]} against "
                                f"{[w.shape for w in mine.get_weights()]}); the model's code changed since the run")
        mine.set_weights(weights)
    if strategy == "frozen":
        for layer in model.layers:
            layer.trainable = layer is head
    return compile_model(model, cfg, jit_compile), new_head


def train_from_source(strategy: str, source: SourceRun, part, val: tuple, test: tuple, cfg: TrainConfig, seed: int,
                      task: Task, features: int = 0, jit_compile: bool = False) -> dict:
    """Fine-tune or freeze ``source``'s model on the target's (treated) fine-tuning ``part`` (x, y and loss
    weights), early-stopped on ``val`` (x, y), scored once on ``test`` (x, y)."""
    from benchmark.estimators import KerasEstimator

    if not uses_weights(source.model):
        raise TransferError(f"{source.run_id}: a {source.model} model has no weights to fine-tune or freeze")
    input_shape = part.x.shape[1:]
    model, new_head = from_source(strategy, source, input_shape, task, features, seed, cfg, jit_compile)
    estimator = KerasEstimator(source.model, input_shape, task.n_classes, seed, features=features)
    report = estimator.train(model, part.x, part.y, part.weights, *val, cfg)
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    start = time.perf_counter()
    probabilities = estimator.predict_proba(test[0])
    scored = _scored(probabilities, test[1], task, time.perf_counter() - start)
    return {**scored, **report, "seconds": {**report["seconds"], **scored["seconds"]}, "new_head": new_head,
            "trainable_params": trainable, "estimator": estimator.kind, "model": estimator.save(),
            "model_suffix": estimator.suffix}


def train_scratch(model: str, part, val: tuple, test: tuple, cfg: TrainConfig, seed: int, task: Task,
                  features: int = 0, jit_compile: bool = False) -> dict:
    """A fresh ``model`` trained on the target's (treated) fine-tuning part as a run of the grid trains."""
    from benchmark.running.trainer import train_and_evaluate

    result = train_and_evaluate(model, part.x, part.y, *val, *test, cfg, seed, jit_compile=jit_compile,
                                sample_weight=part.weights, classes=task.classes, features=features)
    extra = binary_metrics(test[1], result["test_probabilities"].astype(np.float32), result["test_predictions"]) \
        if task.n_classes == 2 else None
    return {**result, **({"binary": extra} if extra else {})}


def _scored(probabilities: np.ndarray, y: np.ndarray, task: Task, seconds: float) -> dict:
    """A run's test scores from its class probabilities of the test beats (the task's two-class metrics too)."""
    predictions = np.argmax(probabilities, axis=1)
    out = {"test": evaluate(y, predictions, classes=task.classes), "test_predictions": predictions.astype(np.int8),
           "test_probabilities": np.asarray(probabilities).astype(np.float16), "seconds": {"inference": seconds}}
    if task.n_classes == 2:
        out["binary"] = binary_metrics(y, probabilities, predictions)
    return out
