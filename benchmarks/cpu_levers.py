"""What each lever does to the cost of a grid on a CPU, model by model, measured side by side in one run.

    python benchmarks/cpu_levers.py [--data-dir DIR] [--cache-dir DIR] [--steps 60] [--budget 8000 ...]

For every model of the benchmark (real intra beats, batch 128, the trainer's own compile):

1. backend and compile mode: ms per optimizer step of one run on every core, TensorFlow uncompiled (the
   default before) against JAX compiled;
2. one run per core: two runs at once, each in a process pinned to its own core with one thread (the
   ``pool`` executor), against one run on every core: the throughput ratio (runs × steps per second);
3. a compiled multi-step loop for a run alone: the steps of a check in one ``lax.scan`` (no ``vmap``) against
   Keras' ``fit``, one step per call, both pinned to one core;
4. the LSTM's recurrence unrolled (``unroll=True``) against the scan, pinned to one core, its compile capped;
5. prediction: seconds to predict the validation part (every check) and the test part (the end, and each
   anytime checkpoint), pinned to one core, against the training between two checks;
6. resampling: seconds for each treatment of the full grid on the intra training part (one core), which the
   pool overlaps with training (a worker makes a part while the other trains).

Then it projects the full grid (both splits, 4 models × 6 treatments × 5 seeds) on this machine from the
pinned step times, the checks' predictions and the budgets given, for the share of each budget a run
trains (1.0: no early stopping; the learning curves give the measured shares). Every measurement runs in
fresh processes (the pair side by side); the output names the machine and commit.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from grid_speed import load, time_resampler, warm_beat_cache  # noqa: E402

MODELS = ("mlp", "cnn", "lstm", "resnet")
TREATMENTS = ("none", "random", "smote", "adasyn", "smote_enn", "class_weight")
BATCH = 128
CHUNK = 20  # steps a timed fit call trains (a check's chunk, shortened); the first chunk compiles
VAL_CHECK_EVERY = 500  # the grids' checks: the projection counts a validation prediction every this many steps
ANYTIME_PREDICTIONS = 2  # test predictions of a run besides its final one (benchmark.estimators.control)


def _start(backend: str, threads: int | None, core: int | None) -> None:
    """In a fresh process, before Keras: the backend, the thread count and the core."""
    os.environ["KERAS_BACKEND"] = backend
    if threads:
        from benchmark.running.executors import thread_env

        os.environ.update(thread_env(threads))
    if core is not None:
        os.sched_setaffinity(0, {core})


def _model(name: str, input_shape, jit: bool, **hyperparameters):
    import keras

    from benchmark.config import TrainConfig
    from benchmark.estimators.keras_estimator import compile_model
    from models import build_model

    keras.utils.set_random_seed(0)
    return compile_model(build_model(name, input_shape=input_shape, **hyperparameters), TrainConfig(), jit)


def fit_step_ms(data_dir, cache, model_name, jit, steps, barrier=None, hyperparameters=None) -> dict:
    """ms per step of ``model.fit`` over chunks of CHUNK steps, as the trainer calls it; ``barrier``: wait for the
    other process of a pair so that both time their steps while the other trains."""
    import numpy as np

    data = load(data_dir, cache)
    x, y = data.train.x[..., None], data.train.y
    start = time.perf_counter()
    model = _model(model_name, x.shape[1:], jit, **(hyperparameters or {}))
    idx = np.random.default_rng(0).integers(0, len(y), size=BATCH * (steps + CHUNK))
    model.fit(x[idx[:CHUNK * BATCH]], y[idx[:CHUNK * BATCH]], batch_size=BATCH, verbose=0, shuffle=False)
    first = time.perf_counter() - start
    if barrier is not None:
        barrier.wait()
    start = time.perf_counter()
    for i in range(CHUNK, CHUNK + steps, CHUNK):
        part = idx[i * BATCH:(i + CHUNK) * BATCH]
        model.fit(x[part], y[part], batch_size=BATCH, verbose=0, shuffle=False)
    return {"step_ms": 1000 * (time.perf_counter() - start) / steps, "first_chunk_s": first}


def scan_step_ms(data_dir, cache, model_name, steps) -> dict:
    """ms per step of the same training written as one compiled ``lax.scan`` over a chunk's batches (JAX)."""
    import jax
    import keras
    import numpy as np

    data = load(data_dir, cache)
    x, y = data.train.x[..., None], data.train.y
    model = _model(model_name, x.shape[1:], True)
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    def loss(trainable, non_trainable, xb, yb):
        out, non_trainable = model.stateless_call(trainable, non_trainable, xb, training=True)
        return loss_fn(yb, out), non_trainable

    grad = jax.value_and_grad(loss, has_aux=True)

    def step(state, batch):
        trainable, non_trainable, opt = state
        (value, non_trainable), grads = grad(trainable, non_trainable, *batch)
        trainable, opt = optimizer.stateless_apply(opt, grads, trainable)
        return (trainable, non_trainable, opt), value

    chunk = jax.jit(lambda state, xs, ys: jax.lax.scan(step, state, (xs, ys)))
    state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
             [v.value for v in optimizer.variables])
    idx = np.random.default_rng(0).integers(0, len(y), size=BATCH * (steps + CHUNK)).reshape(-1, BATCH)
    start = time.perf_counter()
    state, losses = chunk(state, x[idx[:CHUNK]], y[idx[:CHUNK]])
    jax.block_until_ready(losses)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(CHUNK, CHUNK + steps, CHUNK):
        state, losses = chunk(state, x[idx[i:i + CHUNK]], y[idx[i:i + CHUNK]])
    jax.block_until_ready(losses)
    return {"step_ms": 1000 * (time.perf_counter() - start) / steps, "first_chunk_s": first}


def unrolled_lstm_step_ms(data_dir, cache, steps) -> dict:
    """The benchmark's LSTM with its recurrence unrolled (Keras ``unroll=True``), through ``fit``."""
    import keras

    original = keras.layers.LSTM

    class Unrolled(original):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "unroll": True})

    keras.layers.LSTM = Unrolled
    try:
        return fit_step_ms(data_dir, cache, "lstm", True, steps)
    finally:
        keras.layers.LSTM = original


def predict_seconds(data_dir, cache, model_name) -> dict:
    from benchmark.estimators.keras_estimator import predict_probabilities

    data = load(data_dir, cache)
    model = _model(model_name, data.train.x[..., None].shape[1:], True)
    predict_probabilities(model, data.val.x[:64])  # compile
    out = {}
    for part, beats in (("validation", data.val.x), ("test", data.test.x)):
        start = time.perf_counter()
        predict_probabilities(model, beats)
        out[part] = time.perf_counter() - start
        out[f"n_{part}"] = len(beats)
    return out


def fresh(fn, *args, backend="jax", threads=None, core=None, timeout=None):
    """fn(*args) in a fresh process with that backend, thread count and core; None when past ``timeout``."""
    pool = ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"), initializer=_start,
                               initargs=(backend, threads, core))
    try:
        return pool.submit(fn, *args).result(timeout=timeout)
    except FutureTimeout:
        for process in pool._processes.values():  # a compile that does not end: stop it
            process.kill()
        return None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def pinned_pair(fn, *args, backend="jax"):
    """fn(*args, barrier) in two fresh processes at once, each pinned to its own core with one thread."""
    context = mp.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(2)
        pools = [ProcessPoolExecutor(1, mp_context=context, initializer=_start, initargs=(backend, 1, core))
                 for core in sorted(os.sched_getaffinity(0))[:2]]
        futures = [pool.submit(fn, *args, barrier) for pool in pools]
        results = [f.result() for f in futures]
        for pool in pools:
            pool.shutdown()
    return results


def main() -> None:
    from benchmark.provenance import git_commit, library_versions, machine

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=os.environ.get("MITDB_DIR", "../shared/data/mitdb"))
    p.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "ecg-oversampling-bench"))
    p.add_argument("--steps", type=int, default=60, help="timed steps a measurement (after a compiling chunk)")
    p.add_argument("--budget", type=int, nargs="+", default=[4000, 6000, 8000, 10000],
                   help="budgets (steps a run) to project the full grid at")
    p.add_argument("--trained-share", type=float, default=1.0,
                   help="the share of its budget a run trains before it stops early (1.0: the upper bound)")
    p.add_argument("--skip-resampling", action="store_true", help="leave out stage 6 (minutes for smote_enn)")
    p.add_argument("--unroll-timeout", type=float, default=300.0, help="seconds the unrolled LSTM may compile")
    args = p.parse_args()
    cores = len(os.sched_getaffinity(0))
    if cores < 2:
        sys.exit("cpu_levers.py compares one run per core with one run on every core: it needs 2 cores or more")
    m, v = machine(), library_versions()
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; commit {git_commit()}")
    print(f"keras {v.get('keras')}, tensorflow {v.get('tensorflow')}, jax {v.get('jax')}; batch {BATCH}, "
          f"{args.steps} timed steps a measurement\n")
    warm_beat_cache(args.data_dir, args.cache_dir)
    d, c, n = args.data_dir, args.cache_dir, args.steps
    rows = {}
    print("1-3. ms per optimizer step")
    print(f"{'model':8}{'TF off, all':>13}{'JAX on, all':>13}{'JAX, 2 pinned':>15}{'pair gain':>11}"
          f"{'fit, 1 core':>13}{'scan, 1 core':>14}")
    for model in MODELS:
        tf_all = fresh(fit_step_ms, d, c, model, False, n, backend="tensorflow", threads=cores)["step_ms"]
        jax_all = fresh(fit_step_ms, d, c, model, True, n, threads=cores)["step_ms"]
        pair = [r["step_ms"] for r in pinned_pair(fit_step_ms, d, c, model, True, n)]
        alone = fresh(fit_step_ms, d, c, model, True, n, threads=1, core=0)["step_ms"]
        scan = fresh(scan_step_ms, d, c, model, n, threads=1, core=0)["step_ms"]
        gain = 2 / (sum(pair) / 2) / (1 / jax_all)  # runs × steps a second, the pair against one run on all cores
        rows[model] = {"tf_all": tf_all, "jax_all": jax_all, "pinned": sum(pair) / 2, "gain": gain,
                       "alone": alone, "scan": scan}
        print(f"{model:8}{tf_all:13.1f}{jax_all:13.1f}{sum(pair) / 2:15.1f}{gain:10.2f}×{alone:13.1f}{scan:14.1f}",
              flush=True)

    print("\n4. the LSTM's recurrence, pinned to one core (fit)")
    unrolled = fresh(unrolled_lstm_step_ms, d, c, n, threads=1, core=0, timeout=args.unroll_timeout)
    print(f"scan (Keras' default) {rows['lstm']['alone']:.1f} ms a step; unrolled: "
          + (f"{unrolled['step_ms']:.1f} ms a step, first chunk (compile) {unrolled['first_chunk_s']:.0f} s"
             if unrolled else f"not compiled within {args.unroll_timeout:.0f} s"))

    print("\n5. prediction, pinned to one core (JAX)")
    print(f"{'model':8}{'validation s':>14}{'test s':>9}{'train between checks s':>24}{'checks share':>14}")
    for model in MODELS:
        r = fresh(predict_seconds, d, c, model, threads=1, core=0)
        between = rows[model]["pinned"] * VAL_CHECK_EVERY / 1000
        rows[model].update(validation_s=r["validation"], test_s=r["test"])
        print(f"{model:8}{r['validation']:14.2f}{r['test']:9.2f}{between:24.1f}"
              f"{r['validation'] / (between + r['validation']):13.1%}")

    resampling = {}
    if not args.skip_resampling:
        print("\n6. resampling the intra training part, one core (overlapped with training by the pool)")
        for name in TREATMENTS:
            r = fresh(time_resampler, d, c, name, None, threads=1, core=0)
            resampling[name] = r["seconds"]
            print(f"{name:14}{r['seconds']:8.1f} s  {r['n_in']} → {r['n_out']} beats", flush=True)

    print(f"\nprojection: the full grid, both splits (2 × 6 treatments × 5 seeds of each model), on this machine,"
          f" {2} runs at a time pinned one per core, a check every {VAL_CHECK_EVERY} steps, {ANYTIME_PREDICTIONS} "
          f"anytime test predictions and the final one a run, each run training {args.trained_share:.0%} of its "
          f"budget")
    runs = 2 * len(TREATMENTS) * 5
    print(f"{'budget':>8}" + "".join(f"{m:>10}" for m in MODELS) + f"{'all (h)':>10}{'TF off, one at a time (h)':>27}")
    for budget in args.budget:
        steps = budget * args.trained_share
        hours, before = {}, 0.0
        for model, r in rows.items():
            checks = steps / VAL_CHECK_EVERY
            run_s = steps * r["pinned"] / 1000 + checks * r["validation_s"] + (1 + ANYTIME_PREDICTIONS) * r["test_s"]
            hours[model] = runs * run_s / 3600 / 2  # two at a time
            before += runs * (steps * r["tf_all"] / 1000 + checks * r["validation_s"] + r["test_s"]) / 3600
        print(f"{budget:8}" + "".join(f"{hours[m]:10.1f}" for m in MODELS) + f"{sum(hours.values()):10.1f}"
              f"{before:27.1f}")
    if resampling:
        print(f"plus resampling, overlapped by the pool: {sum(resampling.values()) * 2 * 5 / 3600:.1f} h of one core "
              "(the intra part's times, for both splits and 5 seeds)")


if __name__ == "__main__":
    main()
