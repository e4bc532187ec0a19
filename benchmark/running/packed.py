"""Packed training: K runs of one model trained together in one compiled JAX step.

Small models at batch 128 leave a GPU mostly idle: a step is bound by kernel launches, not arithmetic.
Packing stacks the weights of K runs of the same registered model and trains them in one jitted call
(``jax.vmap`` of the model's ``stateless_call`` over the stacked weights, ``lax.scan`` over the steps
between two validation checks), so one launch does K runs' work. Nothing about the model is written
twice: any builder in ``models`` packs.

Every packed run is the run it would have been alone (``benchmark.estimators.KerasEstimator``):

- its model is built right after ``keras.utils.set_random_seed(seed)``, as alone, so it starts from
  the same initial weights and the same dropout seed state;
- its batches come from its own training part through the same seeded ``batch_indices``;
- the loss is Keras' ``sparse_categorical_crossentropy`` averaged over the batch, and the optimizer is
  Keras' Adam with its ``ExponentialDecay`` schedule (or the triangular cyclical one), written out here
  with Keras' own formulas;
- validation macro F1 every ``eval_every`` steps, its own best weights and its own early stop, by the
  same loop as alone (``benchmark.estimators.base.early_stopping_loop``): a run that has stopped is masked
  (its weights, optimizer state and step counter no longer change) while the others go on, and once half
  of the pack or more has stopped, the stopped runs leave it (their best weights kept on the host): the
  pack is re-stacked without them and compiled for its new size, so it stops paying for them; the pack
  ends when every run has stopped or the budget is spent;
- its test part is scored once, with its best weights.

Only the JAX backend can do this (``stateless_call`` under ``jax.vmap``); the executor that uses it is
``benchmark.running.executors.PackedExecutor``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from benchmark.config import TrainConfig
from benchmark.estimators.base import early_stopping_loop, training_report
from benchmark.estimators.keras_estimator import PREDICT_BATCH, batch_indices
from benchmark.metrics.evaluator import evaluate, macro_f1
from benchmark.tasks import AAMI_CLASSES

log = logging.getLogger(__name__)


@dataclass
class PackMember:
    """One run of a pack: its seed and its training part (x shaped (n, length, 1), y)."""

    seed: int
    x: np.ndarray
    y: np.ndarray
    weights: np.ndarray | None = None  # a loss weight per training beat (class weighting), or None


def learning_rate(iterations, cfg: TrainConfig):
    """The learning rate at optimizer step ``iterations`` (an int32 array), as the Keras estimator's schedule
    gives it (``keras_estimator.learning_rate_schedule``): ExponentialDecay's staircase, or the triangular
    cyclical rate of ``benchmark.estimators.schedules``, the same float32 operations in the same order."""
    import jax.numpy as jnp

    if cfg.lr_schedule == "triangular":
        cycle = cfg.lr_cycle_steps
        distance = jnp.abs(2 * jnp.mod(iterations.astype(jnp.int32), cycle) - cycle)
        rise = (cycle - distance).astype(jnp.float32) * jnp.float32(1 / cycle)
        return jnp.float32(cfg.lr_min) + (jnp.float32(cfg.lr_max) - jnp.float32(cfg.lr_min)) * rise
    step = iterations.astype(jnp.float32)
    p = step / cfg.lr_decay_steps
    return cfg.learning_rate * jnp.power(jnp.float32(cfg.lr_decay), jnp.floor(p))


def adam_update(params, grads, state, cfg: TrainConfig):
    """Keras 3 Adam (epsilon 1e-7) with the run's schedule (``learning_rate``), for one run; ``state`` =
    (m, v, iterations)."""
    import jax
    import jax.numpy as jnp

    m, v, iterations = state
    lr = learning_rate(iterations, cfg)
    local_step = (iterations + 1).astype(jnp.float32)
    beta_1, beta_2, epsilon = 0.9, 0.999, 1e-7
    alpha = lr * jnp.sqrt(1 - jnp.power(jnp.float32(beta_2), local_step)) / (
        1 - jnp.power(jnp.float32(beta_1), local_step))
    m = jax.tree_util.tree_map(lambda m_, g: m_ + (g - m_) * (1 - beta_1), m, grads)
    v = jax.tree_util.tree_map(lambda v_, g: v_ + (jnp.square(g) - v_) * (1 - beta_2), v, grads)
    params = jax.tree_util.tree_map(lambda w, m_, v_: w - (m_ * alpha) / (jnp.sqrt(v_) + epsilon), params, m, v)
    return params, (m, v, iterations + 1)


class _PackFunctions:
    """The jitted functions of one pack: a chunk of training steps, and prediction."""

    def __init__(self, model, cfg: TrainConfig):
        import jax
        import jax.numpy as jnp
        import keras

        def loss_fn(trainable, non_trainable, x, y, w):
            y_pred, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
            # Keras' "sum_over_batch_size" with sample weights: the weighted sum over the batch size
            loss = keras.ops.mean(w * keras.losses.sparse_categorical_crossentropy(y, y_pred))
            return loss, non_trainable

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

        def one_step(trainable, non_trainable, opt, x, y, w, active):
            (loss, new_non_trainable), grads = grad_fn(trainable, non_trainable, x, y, w)
            new_trainable, new_opt = adam_update(trainable, grads, opt, cfg)
            keep = lambda new, old: jnp.where(active, new, old)  # noqa: E731  (a stopped run stays put)
            return (jax.tree_util.tree_map(keep, new_trainable, trainable),
                    jax.tree_util.tree_map(keep, new_non_trainable, non_trainable),
                    jax.tree_util.tree_map(keep, new_opt, opt), loss)

        packed_step = jax.vmap(one_step)

        def chunk(trainable, non_trainable, opt, x_all, y_all, w_all, idx, active):
            def body(carry, idx_t):  # idx_t: (K, batch) rows of x_all
                tr, ntr, op = carry
                tr, ntr, op, loss = packed_step(tr, ntr, op, x_all[idx_t], y_all[idx_t], w_all[idx_t], active)
                return (tr, ntr, op), loss

            (trainable, non_trainable, opt), losses = jax.lax.scan(body, (trainable, non_trainable, opt), idx)
            return trainable, non_trainable, opt, losses

        def predict(trainable, non_trainable, x):  # x: (batch, length, 1), shared by every run
            probs, _ = model.stateless_call(trainable, non_trainable, x, training=False)
            return jnp.argmax(probs, axis=-1).astype(jnp.int8)

        def keep_best(best, current, improved):
            return jax.tree_util.tree_map(
                lambda b, c: jnp.where(improved.reshape((-1,) + (1,) * (c.ndim - 1)), c, b), best, current)

        self.chunk = jax.jit(chunk, donate_argnums=(0, 1, 2))
        self.predict = jax.jit(jax.vmap(predict, in_axes=(0, 0, None)))
        self.keep_best = jax.jit(keep_best, donate_argnums=(0,))

    def labels(self, trainable, non_trainable, x: np.ndarray) -> np.ndarray:
        """Predicted classes of every run, (K, n), in fixed-size padded batches (one compilation)."""
        import jax.numpy as jnp

        n = len(x)
        size = min(PREDICT_BATCH, n)
        out = []
        for start in range(0, n, size):
            batch = x[start:start + size]
            if len(batch) < size:
                batch = np.concatenate([batch, np.zeros((size - len(batch), *x.shape[1:]), x.dtype)])
            out.append(self.predict(trainable, non_trainable, jnp.asarray(batch)))
        return np.concatenate([np.asarray(o) for o in out], axis=1)[:, :n]


def _epoch_loss(losses: np.ndarray, batch_size: int) -> float:
    """The chunk's mean loss as ``model.fit`` reports it: Keras' Mean metric, summed in float32 step by step."""
    total, count, weight = np.float32(0), np.float32(0), np.float32(batch_size)
    for loss in losses.astype(np.float32):
        total, count = np.float32(total + loss * weight), np.float32(count + weight)
    return float(total / count)


def _stack(trees):
    import jax.numpy as jnp

    return [jnp.stack([np.asarray(t[i]) for t in trees]) for i in range(len(trees[0]))]


def train_pack(model_name: str, members: list[PackMember], val_x, val_y, test_x, test_y,
               cfg: TrainConfig, classes: tuple[str, ...] = AAMI_CLASSES, features: int = 0,
               hyperparameters: dict | None = None, compact_packs: bool = True) -> list[dict | Exception]:
    """Train the ``members`` together; one result per member, as ``train_and_evaluate`` returns it
    (``features``: how many of the input's last positions are appended features; ``hyperparameters``: the
    builder's tuned ones, the same for every member; ``compact_packs``: stopped members leave the pack once
    half of it or more has stopped, which changes no result).

    A member whose loss becomes non-finite gets a ``FloatingPointError`` in its place; the others go on.
    """
    import jax
    import jax.numpy as jnp
    import keras

    from models import build_model

    if keras.backend.backend() != "jax":
        raise RuntimeError(f"packed training needs the JAX backend (KERAS_BACKEND=jax), not "
                           f"{keras.backend.backend()!r}")
    k, n_classes = len(members), len(classes)
    models = []
    for member in members:
        keras.utils.set_random_seed(member.seed)  # as alone: same initial weights and dropout seed state
        models.append(build_model(model_name, input_shape=member.x.shape[1:], n_classes=n_classes,
                                  features=features, **(hyperparameters or {})))
    template = models[0]
    state = {"trainable": _stack([[v.value for v in m.trainable_variables] for m in models]),
             "non_trainable": _stack([[v.value for v in m.non_trainable_variables] for m in models])}
    n_params = int(template.count_params())
    del models
    state["opt"] = ([jnp.zeros_like(w) for w in state["trainable"]],
                    [jnp.zeros_like(w) for w in state["trainable"]], jnp.zeros((k,), jnp.int32))
    fns = _PackFunctions(template, cfg)

    # every distinct training part once on the device; a member's batches index into it
    parts, offsets = {}, []
    for member in members:
        key = (id(member.x), id(member.y), id(member.weights))  # a part is its beats, labels and loss weights
        if key not in parts:
            weights = np.ones(len(member.y), np.float32) if member.weights is None else member.weights
            parts[key] = (sum(len(p[1]) for p in parts.values()), member.x, member.y, weights)
        offsets.append(parts[key][0])
    x_all = jnp.asarray(np.concatenate([p[1] for p in parts.values()]).astype(np.float32, copy=False))
    y_all = jnp.asarray(np.concatenate([p[2] for p in parts.values()]).astype(np.int32))
    w_all = jnp.asarray(np.concatenate([p[3] for p in parts.values()]).astype(np.float32))
    batches = [batch_indices(len(m.y), cfg.steps, cfg.batch_size, np.random.default_rng(m.seed)) for m in members]
    best = {"trainable": [w.copy() for w in state["trainable"]],
            "non_trainable": [w.copy() for w in state["non_trainable"]]}
    # The members still on the device, in the order of the stacked arrays' first axis. When half of them or
    # more have stopped, the others leave them behind (``compact``): a pack's step costs about in proportion
    # to its members on a GPU's convolutions, and a stopped member's weights no longer change.
    live = np.arange(k)
    left = {"best": {}, "iterations": np.zeros(k, np.int64), "compacted": []}

    def compact(active):
        nonlocal live
        still = active[live]
        if not compact_packs or still.all() or not still.any() or still.sum() > len(live) // 2:
            return
        iterations, keep = np.asarray(state["opt"][2]), np.flatnonzero(still)
        step = int(iterations.max())
        for j in np.flatnonzero(~still):  # a stopped member's best weights and step count, kept on the host
            left["iterations"][live[j]] = iterations[j]
            left["best"][live[j]] = ([np.asarray(w[j]) for w in best["trainable"]],
                                     [np.asarray(w[j]) for w in best["non_trainable"]])
        take = lambda tree: jax.tree_util.tree_map(lambda a: a[keep], tree)  # noqa: E731
        state["trainable"], state["non_trainable"], state["opt"] = (
            take(state["trainable"]), take(state["non_trainable"]), take(state["opt"]))
        best["trainable"], best["non_trainable"] = take(best["trainable"]), take(best["non_trainable"])
        log.info("  step %d: %d of %d run(s) still training; the pack goes on without the stopped ones",
                 step, len(keep), len(live))
        left["compacted"].append([step, len(keep)])
        live = live[keep]

    def train_chunk(steps, active):
        compact(active)
        idx = np.zeros((steps, len(live), cfg.batch_size), np.int32)
        for j in np.flatnonzero(active[live]):
            idx[:, j] = np.stack([next(batches[live[j]]) for _ in range(steps)]) + offsets[live[j]]
        state["trainable"], state["non_trainable"], state["opt"], losses = fns.chunk(
            state["trainable"], state["non_trainable"], state["opt"], x_all, y_all, w_all, jnp.asarray(idx),
            jnp.asarray(active[live]))
        losses = np.asarray(losses)  # waits for the chunk
        out = [float("nan")] * k
        for j, i in enumerate(live):
            out[i] = _epoch_loss(losses[:, j], cfg.batch_size)
        return out

    def validate(active):
        val_pred = fns.labels(state["trainable"], state["non_trainable"], val_x)
        out = [float("nan")] * k
        for j, i in enumerate(live):
            if active[i]:
                out[i] = macro_f1(val_y, val_pred[j], n_classes)
        return out

    def keep_best(improved):
        mask = jnp.asarray(improved[live])
        best["trainable"] = fns.keep_best(best["trainable"], state["trainable"], mask)
        best["non_trainable"] = fns.keep_best(best["non_trainable"], state["non_trainable"], mask)

    records, times = early_stopping_loop(k, cfg, train_chunk, validate, keep_best)
    iterations = left["iterations"]
    iterations[live] = np.asarray(state["opt"][2])

    def best_of(i):  # member i's best weights: (trainable, non-trainable) lists of arrays
        if i in left["best"]:
            return left["best"][i]
        j = int(np.flatnonzero(live == i)[0])
        return [np.asarray(w[j]) for w in best["trainable"]], [np.asarray(w[j]) for w in best["non_trainable"]]
    from benchmark.estimators.keras_estimator import model_bytes, model_from_bytes, predict_probabilities

    # Each member's test predictions are its saved model's, predicted alone: on a GPU the pack's batched
    # graph runs other kernels than one model does, and would differ from `evaluate` in a few beats.
    saved, test_proba, infer_time = {}, {}, 0.0
    for i in range(k):
        if records[i].failed is None:
            saved[i] = model_bytes(model_name, members[i].x.shape[1:], _member_weights(template, *best_of(i)),
                                   n_classes, features, hyperparameters)
            model = model_from_bytes(saved[i])
            start = time.perf_counter()
            test_proba[i] = predict_probabilities(model, test_x)
            infer_time += time.perf_counter() - start
    results: list[dict | Exception] = []
    for i in range(k):
        if records[i].failed is not None:
            results.append(records[i].failed)
            continue
        test_pred = np.argmax(test_proba[i], axis=1)
        # the pack's time, shared equally: what one run cost
        seconds = {"train": times.train / k, "validation": times.validation / k, "inference": infer_time / len(saved)}
        results.append({
            "test": evaluate(test_y, test_pred, classes=classes),
            "test_predictions": test_pred.astype(np.int8),
            "test_probabilities": test_proba[i].astype(np.float16),
            **training_report(records[i], cfg, int(iterations[i]), n_params, seconds),
            "test_samples_per_second": len(test_y) * len(saved) / infer_time if infer_time else None,
            "packing": {"runs": k, "pack_seconds": {"train": times.train, "validation": times.validation,
                                                    "inference": infer_time},
                        "chunk_steps": cfg.eval_every, "chunk_seconds": times.chunks,
                        "compacted": left["compacted"]},  # [step, runs left] each time stopped runs left
            "estimator": "keras",
            "model": saved[i],
            "model_suffix": ".keras",
        })
    return results


def _member_weights(template, trainable: list, non_trainable: list) -> list[np.ndarray]:
    """One member's weights (its trainable and non-trainable arrays, in the template's variable order) in
    ``get_weights`` order."""
    by_path = {v.path: np.asarray(w) for v, w in zip(template.trainable_variables, trainable)}
    by_path.update({v.path: np.asarray(w) for v, w in zip(template.non_trainable_variables, non_trainable)})
    return [by_path[v.path] for v in template.weights]
