"""Train one fresh model for a fixed number of optimizer steps and evaluate it.

Fairness rules, identical for every model and resampler:
- a new model is built and compiled for every run (no optimizer state carried over);
- every random source is seeded from the run's seed;
- training lasts ``TrainConfig.steps`` optimizer updates, whatever the training-set size, drawn as
  successive seeded permutations of the (resampled) training part;
- validation macro F1 is checked every ``eval_every`` steps; the best weights are kept and training
  stops after ``patience`` checks without improvement. The test part is touched once, at the end.

Only ``keras.*`` is used, so the trainer runs on the TensorFlow, JAX and PyTorch backends.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from benchmark.config import TrainConfig
from benchmark.metrics.evaluator import evaluate, macro_f1

log = logging.getLogger(__name__)


def batch_indices(n: int, steps: int, batch_size: int, rng: np.random.Generator):
    """Yield index arrays of ``batch_size`` for ``steps`` steps: epochs of fresh permutations."""
    order, pos = rng.permutation(n), 0
    for _ in range(steps):
        if pos + batch_size > n:  # start a new epoch; the tail of the old one is carried over
            order, pos = np.concatenate([order[pos:], rng.permutation(n)]), 0
        yield order[pos:pos + batch_size]
        pos += batch_size


def compile_model(model, cfg: TrainConfig, jit_compile: bool = False):
    import keras

    schedule = keras.optimizers.schedules.ExponentialDecay(
        cfg.learning_rate, decay_steps=cfg.lr_decay_steps, decay_rate=cfg.lr_decay, staircase=True)
    model.compile(optimizer=keras.optimizers.Adam(schedule, beta_1=0.9, beta_2=0.999),
                  loss="sparse_categorical_crossentropy", jit_compile=jit_compile)
    return model


def predict_labels(model, x: np.ndarray) -> np.ndarray:
    from benchmark.running.saving import predict_probabilities

    return np.argmax(predict_probabilities(model, x), axis=1)


def train_and_evaluate(model_name: str, train_x, train_y, val_x, val_y, test_x, test_y,
                       cfg: TrainConfig, seed: int, jit_compile: bool = False, sample_weight=None) -> dict:
    """Build, train and evaluate one model; returns metrics, history, wall times and the saved model
    (``model``: the ``.keras`` file of the best validation weights, the ones tested).

    ``jit_compile``: compile the train step with XLA (see ``benchmark.running.compute.resolve_jit``); it changes
    how fast a run goes and, by float rounding, its last bits, never what it computes. ``sample_weight``:
    a loss weight per training beat (class weighting), or None.
    """
    import keras

    from models import build_model

    keras.utils.set_random_seed(seed)
    model = compile_model(build_model(model_name, input_shape=train_x.shape[1:]), cfg, jit_compile)
    rng = np.random.default_rng(seed)
    batches = batch_indices(len(train_y), cfg.steps, cfg.batch_size, rng)

    history, best = [], {"val_macro_f1": -1.0, "step": 0}
    best_weights, step, train_time, val_time = None, 0, 0.0, 0.0
    stale = 0
    while step < cfg.steps:
        chunk = min(cfg.eval_every, cfg.steps - step)
        idx = np.concatenate([next(batches) for _ in range(chunk)])
        start = time.perf_counter()
        fit = model.fit(train_x[idx], train_y[idx], batch_size=cfg.batch_size, epochs=1, shuffle=False, verbose=0,
                        sample_weight=None if sample_weight is None else sample_weight[idx])
        train_time += time.perf_counter() - start
        step += chunk
        start = time.perf_counter()
        val_f1 = macro_f1(val_y, predict_labels(model, val_x))
        val_time += time.perf_counter() - start
        loss = float(fit.history["loss"][-1])
        history.append({"step": step, "train_loss": loss, "val_macro_f1": val_f1})
        log.debug("    step %d/%d: loss %.4f, val macro F1 %.4f", step, cfg.steps, loss, val_f1)
        if not np.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss} at step {step}")
        if val_f1 > best["val_macro_f1"]:
            best, best_weights, stale = {"val_macro_f1": val_f1, "step": step}, model.get_weights(), 0
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    model.set_weights(best_weights)
    start = time.perf_counter()
    test_pred = predict_labels(model, test_x)
    infer_time = time.perf_counter() - start
    from benchmark.running.saving import model_bytes

    return {
        "test": evaluate(test_y, test_pred),
        "test_predictions": test_pred.astype(np.int8),  # per beat, for paired tests over test beats
        "best_step": best["step"],
        "best_val_macro_f1": best["val_macro_f1"],
        "steps_trained": step,
        "optimizer_steps": int(model.optimizer.iterations),  # what the optimizer itself counted
        "stopped_early": step < cfg.steps,
        "history": history,
        "n_params": int(model.count_params()),
        "seconds": {"train": train_time, "validation": val_time, "inference": infer_time},
        "test_samples_per_second": len(test_y) / infer_time if infer_time else None,
        "model": model_bytes(model_name, train_x.shape[1:], best_weights),
    }
