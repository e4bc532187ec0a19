"""Packed training: K runs of one model trained together in one compiled JAX step.

Small models at batch 128 leave a GPU mostly idle: a step is bound by kernel launches, not arithmetic.
Packing stacks the weights of K runs of the same registered model and trains them in one jitted call
(``jax.vmap`` of the model's ``stateless_call`` over the stacked weights, ``lax.scan`` over the steps
between two validation checks), so one launch does K runs' work. Nothing about the model is written
twice: any builder in ``models`` packs.

Every packed run is the run it would have been alone (``benchmark.running.trainer``):

- its model is built right after ``keras.utils.set_random_seed(seed)``, as alone, so it starts from
  the same initial weights and the same dropout seed state;
- its batches come from its own training part through the same seeded ``batch_indices``;
- the loss is Keras' ``sparse_categorical_crossentropy`` averaged over the batch, and the optimizer is
  Keras' Adam with its ``ExponentialDecay`` schedule, written out here with Keras' own formulas;
- validation macro F1 every ``eval_every`` steps, its own best weights and its own early stop: a run
  that has stopped is masked (its weights, optimizer state and step counter no longer change) while
  the others go on; the pack ends when every run has stopped or the budget is spent;
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
from benchmark.metrics.evaluator import evaluate, macro_f1
from benchmark.running.saving import PREDICT_BATCH
from benchmark.running.trainer import batch_indices

log = logging.getLogger(__name__)


@dataclass
class PackMember:
    """One run of a pack: its seed and its training part (x shaped (n, length, 1), y)."""

    seed: int
    x: np.ndarray
    y: np.ndarray
    weights: np.ndarray | None = None  # a loss weight per training beat (class weighting), or None


def adam_update(params, grads, state, cfg: TrainConfig):
    """Keras 3 Adam (epsilon 1e-7) with ExponentialDecay, for one run; ``state`` = (m, v, iterations)."""
    import jax
    import jax.numpy as jnp

    m, v, iterations = state
    step = iterations.astype(jnp.float32)
    p = step / cfg.lr_decay_steps
    lr = cfg.learning_rate * jnp.power(jnp.float32(cfg.lr_decay), jnp.floor(p))
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
               cfg: TrainConfig) -> list[dict | Exception]:
    """Train the ``members`` together; one result per member, as ``train_and_evaluate`` returns it.

    A member whose loss becomes non-finite gets a ``FloatingPointError`` in its place; the others go on.
    """
    import jax
    import jax.numpy as jnp
    import keras

    from models import build_model

    if keras.backend.backend() != "jax":
        raise RuntimeError(f"packed training needs the JAX backend (KERAS_BACKEND=jax), not "
                           f"{keras.backend.backend()!r}")
    k = len(members)
    models = []
    for member in members:
        keras.utils.set_random_seed(member.seed)  # as alone: same initial weights and dropout seed state
        models.append(build_model(model_name, input_shape=member.x.shape[1:]))
    template = models[0]
    trainable = _stack([[v.value for v in m.trainable_variables] for m in models])
    non_trainable = _stack([[v.value for v in m.non_trainable_variables] for m in models])
    n_params = int(template.count_params())
    del models
    zeros = [jnp.zeros_like(w) for w in trainable]
    opt = (zeros, [jnp.zeros_like(w) for w in trainable], jnp.zeros((k,), jnp.int32))
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

    best_trainable = [w.copy() for w in trainable]
    best_non_trainable = [w.copy() for w in non_trainable]
    active = np.ones(k, bool)
    failed: list[Exception | None] = [None] * k
    history = [[] for _ in range(k)]
    best = [{"val_macro_f1": -1.0, "step": 0} for _ in range(k)]
    stale, steps_trained = [0] * k, [0] * k
    train_time = val_time = 0.0
    chunk_seconds: list[float] = []  # the first holds the compilation
    step = 0
    while step < cfg.steps and active.any():
        chunk = min(cfg.eval_every, cfg.steps - step)
        idx = np.zeros((chunk, k, cfg.batch_size), np.int32)
        for i in range(k):
            if active[i]:
                idx[:, i] = np.stack([next(batches[i]) for _ in range(chunk)]) + offsets[i]
        start = time.perf_counter()
        trainable, non_trainable, opt, losses = fns.chunk(trainable, non_trainable, opt, x_all, y_all, w_all,
                                                          jnp.asarray(idx), jnp.asarray(active))
        losses = np.asarray(losses)  # waits for the chunk
        chunk_seconds.append(time.perf_counter() - start)
        train_time += chunk_seconds[-1]
        step += chunk
        start = time.perf_counter()
        val_pred = fns.labels(trainable, non_trainable, val_x)
        improved = np.zeros(k, bool)
        for i in np.flatnonzero(active):
            loss = _epoch_loss(losses[:, i], cfg.batch_size)
            val_f1 = macro_f1(val_y, val_pred[i])
            history[i].append({"step": step, "train_loss": loss, "val_macro_f1": val_f1})
            steps_trained[i] = step
            if not np.isfinite(loss):
                failed[i] = FloatingPointError(f"training loss became {loss} at step {step}")
                active[i] = False
            elif val_f1 > best[i]["val_macro_f1"]:
                best[i], improved[i], stale[i] = {"val_macro_f1": val_f1, "step": step}, True, 0
            else:
                stale[i] += 1
                if stale[i] >= cfg.patience:
                    active[i] = False
        if improved.any():
            mask = jnp.asarray(improved)
            best_trainable = fns.keep_best(best_trainable, trainable, mask)
            best_non_trainable = fns.keep_best(best_non_trainable, non_trainable, mask)
        val_time += time.perf_counter() - start
        if log.isEnabledFor(logging.DEBUG):
            log.debug(f"    step {step}/{cfg.steps}: {int(active.sum())}/{k} runs still training, val macro F1 "
                      + " ".join(f"{h[-1]['val_macro_f1']:.3f}" for h in history if h and h[-1]["step"] == step))
    iterations = np.asarray(opt[2])
    from benchmark.running.saving import model_bytes, model_from_bytes, predict_probabilities

    # Each member's test predictions are its saved model's, predicted alone: on a GPU the pack's batched
    # graph runs other kernels than one model does, and would differ from `evaluate` in a few beats.
    saved, test_pred, infer_time = {}, {}, 0.0
    for i in range(k):
        if failed[i] is None:
            saved[i] = model_bytes(model_name, members[i].x.shape[1:],
                                   _member_weights(template, best_trainable, best_non_trainable, i))
            model = model_from_bytes(saved[i])
            start = time.perf_counter()
            test_pred[i] = np.argmax(predict_probabilities(model, test_x), axis=1)
            infer_time += time.perf_counter() - start
    results: list[dict | Exception] = []
    for i in range(k):
        if failed[i] is not None:
            results.append(failed[i])
            continue
        results.append({
            "test": evaluate(test_y, test_pred[i]),
            "test_predictions": test_pred[i].astype(np.int8),
            "best_step": best[i]["step"],
            "best_val_macro_f1": best[i]["val_macro_f1"],
            "steps_trained": steps_trained[i],
            "optimizer_steps": int(iterations[i]),
            "stopped_early": steps_trained[i] < cfg.steps,
            "history": history[i],
            "n_params": n_params,
            # the pack's time, shared equally: what one run cost
            "seconds": {"train": train_time / k, "validation": val_time / k, "inference": infer_time / len(saved)},
            "test_samples_per_second": len(test_y) * len(saved) / infer_time if infer_time else None,
            "packing": {"runs": k, "pack_seconds": {"train": train_time, "validation": val_time,
                                                    "inference": infer_time},
                        "chunk_steps": cfg.eval_every, "chunk_seconds": chunk_seconds},
            "model": saved[i],
        })
    return results


def _member_weights(template, trainable: list, non_trainable: list, i: int) -> list[np.ndarray]:
    """Member ``i``'s weights in ``get_weights`` order (the model's variables, trainable or not)."""
    by_path = {v.path: np.asarray(w[i]) for v, w in zip(template.trainable_variables, trainable)}
    by_path.update({v.path: np.asarray(w[i]) for v, w in zip(template.non_trainable_variables, non_trainable)})
    return [by_path[v.path] for v in template.weights]
