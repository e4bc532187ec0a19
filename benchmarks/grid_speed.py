"""What the full grid costs on this machine, measured side by side in one run.

    python benchmarks/grid_speed.py [--data-dir DIR] [--quick]

1. the machine's float32 matrix-multiply peak (the yardstick for the models' FLOP/s);
2. the beat-set build from the raw records (cold cache);
3. every resampler on the full intra training part, and imbalanced-learn's own SMOTEENN next to ours
   (time, peak memory, and whether the outputs are byte-identical);
4. training throughput of every model (samples/s, achieved FLOP/s as a fraction of the peak) for
   two batch sizes, with and without XLA compilation;
5. a fixed small grid on the full intra split, run by this harness (the ``quick`` grid's training
   budget) and by a *naive harness* written the usual way (resample separately for every model with
   imbalanced-learn, ``model.fit`` on NumPy arrays for whole epochs over the resampled set, here one,
   its cheapest setting): wall time and macro F1 of both, cell by cell;
6. the projected wall time of ``--grid quick`` and ``--grid full`` from these figures, for this harness
   and for the naive one.

Every stage runs in a fresh process, so its peak memory (max RSS) is its own. ``--quick`` shrinks
stages 3-5 (a training subset instead of the full part) to check the script itself in minutes.
"""
from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SUBSET = (20_000, 4_000, 8_000)  # --quick: stratified train/validation/test sizes of every stage
# Stage 5: the cheapest and the dearest resampler, for the cheapest model and a convolutional one.
SMALL_GRID = {"models": ("mlp", "cnn"), "resamplers": ("none", "smote_enn")}
NAIVE_EPOCHS = 1  # the naive harness's cheapest setting: each further epoch only adds to its time
NAIVE_BATCH = 128  # the batch size of the naive harness's model.fit, as in the grids


def isolated(fn, *args):
    """Run fn(*args) in a fresh process; returns (its result, its peak RSS in MiB)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(_with_peak, fn, *args).result()


def _with_peak(fn, *args):
    result = fn(*args)
    return result, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load(data_dir, cache, subset=None):
    from dataclasses import replace

    from benchmark.config import GRIDS, DataConfig
    from benchmark.data.splits import load_split
    from benchmark.running.plan import prepare_data

    split = load_split("intra", data_dir, cache_dir=Path(cache))
    return prepare_data(split, replace(GRIDS["quick"], data=DataConfig(subset=subset)))


def warm_beat_cache(data_dir, cache) -> None:
    load(data_dir, cache)  # returns nothing: the beats need not travel back to the parent process


def matmul_peak() -> float:
    import numpy as np

    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a)[0] for _ in range(5))
    return 2 * 2048 ** 3 / best / 1e9


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def build_beats_cold(data_dir) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        seconds, data = _timed(lambda: load(data_dir, cache))
    return {"seconds": seconds, "beats": len(data.train.y) + len(data.val.y) + len(data.test.y)}


def time_resampler(data_dir, cache, name, subset) -> dict:
    import numpy as np

    data = load(data_dir, cache, subset)
    x, y = data.train.x, data.train.y
    if name == "imblearn_smote_enn":
        from imblearn.combine import SMOTEENN
        seconds, (xr, yr) = _timed(lambda: SMOTEENN(random_state=0).fit_resample(x, y))
    else:
        from resampling import resample
        seconds, (xr, yr) = _timed(lambda: resample(name, x[..., None], y, seed=0))
    xr = np.ascontiguousarray(xr, dtype=np.float32).reshape(len(yr), -1)
    digest = hashlib.sha256(xr.tobytes() + np.asarray(yr, dtype=np.int8).tobytes()).hexdigest()[:16]
    return {"seconds": seconds, "n_in": len(y), "n_out": len(yr), "digest": digest}


def forward_flops(model) -> float:
    """Multiply-adds × 2 of one forward pass per sample, from the layers' shapes (Dense, Conv1D, LSTM)."""
    import keras

    total = 0.0
    for layer in model.layers:
        inner = layer.forward_layer if isinstance(layer, keras.layers.Bidirectional) else layer
        if isinstance(inner, keras.layers.Dense):
            total += 2 * inner.kernel.shape[0] * inner.kernel.shape[1]
        elif isinstance(inner, keras.layers.Conv1D):
            k, cin, cout = inner.kernel.shape
            total += 2 * k * cin * cout * layer.output.shape[1]
        elif isinstance(inner, keras.layers.LSTM):
            steps, features = layer.input.shape[1], layer.input.shape[2]
            units = inner.units
            total += 2 * 4 * (features + units) * units * steps * (2 if inner is not layer else 1)
    return total


def training_throughput(data_dir, cache, model_name, batch_size, jit, steps) -> dict:
    import keras
    import numpy as np

    from benchmark.config import TrainConfig
    from benchmark.estimators.keras_estimator import compile_model
    from models import build_model

    data = load(data_dir, cache)
    x, y = data.train.x[..., None], data.train.y
    keras.utils.set_random_seed(0)
    model = compile_model(build_model(model_name, input_shape=x.shape[1:]),
                          TrainConfig(batch_size=batch_size), jit_compile=jit)
    idx = np.random.default_rng(0).integers(0, len(y), size=batch_size * (steps + 5))
    model.fit(x[idx[:5 * batch_size]], y[idx[:5 * batch_size]], batch_size=batch_size, verbose=0)  # compile
    seconds, _ = _timed(lambda: model.fit(x[idx[5 * batch_size:]], y[idx[5 * batch_size:]],
                                          batch_size=batch_size, verbose=0, shuffle=False))
    predict_s, _ = _timed(lambda: model.predict(data.val.x[..., None], batch_size=2048, verbose=0))
    samples = steps * batch_size
    return {"samples_per_s": samples / seconds, "step_ms": 1000 * seconds / steps,
            "train_gflops": 3 * forward_flops(model) * samples / seconds / 1e9,
            "val_predict_s": predict_s, "n_val": len(data.val.y)}


def harness_grid(data_dir, cache_root, subset, steps) -> dict:
    """SMALL_GRID through ``run_grid`` with the quick grid's budget (or ``steps``), from a cold resample cache."""
    import json
    from dataclasses import replace

    from benchmark.config import GRIDS, DataConfig, customise
    from benchmark.data.splits import load_split
    from benchmark.running.runner import run_grid

    with tempfile.TemporaryDirectory() as work:
        grid = customise(GRIDS["quick"], seeds=[0], **SMALL_GRID)
        if steps:
            grid = customise(grid, steps=steps, eval_every=steps // 4, patience=2)
        grid = replace(grid, data=DataConfig(subset=subset))
        start = time.perf_counter()  # a cold resample cache: the harness resamples like the naive one must
        split = load_split("intra", data_dir, cache_dir=Path(cache_root))
        run_grid(grid, split, Path(work) / "results", cache_dir=Path(work) / "cache")
        seconds = time.perf_counter() - start
        cells = {}
        for path in (Path(work) / "results" / "intra" / "runs").glob("*/metrics.json"):
            m = json.loads(path.read_text())
            cells[f"{m['model']}__{m['resampler']}"] = {
                "macro_f1": m["test"]["macro_f1"], "steps": m["steps_trained"],
                "seconds": m["resampling"]["seconds"] + sum(m["seconds"].values())}
    return {"seconds": seconds, "cells": cells, "budget": grid.train.as_dict()}


def naive_grid(data_dir, cache, subset, epochs) -> dict:
    """The usual way: resample per model, materialise, ``model.fit`` for whole epochs, score the test set."""
    import keras
    import numpy as np
    from imblearn import FunctionSampler
    from imblearn.combine import SMOTEENN
    from imblearn.over_sampling import SMOTE

    from benchmark.config import TrainConfig
    from benchmark.metrics.evaluator import macro_f1
    from benchmark.estimators.keras_estimator import compile_model
    from models import build_model

    samplers = {"none": FunctionSampler, "smote": lambda: SMOTE(random_state=0),
                "smote_enn": lambda: SMOTEENN(random_state=0)}
    start = time.perf_counter()
    data = load(data_dir, cache, subset)
    cells = {}
    for model_name in SMALL_GRID["models"]:
        for name in SMALL_GRID["resamplers"]:
            cell_start = time.perf_counter()
            xr, yr = samplers[name]().fit_resample(data.train.x, data.train.y)
            keras.utils.set_random_seed(0)
            model = compile_model(build_model(model_name, input_shape=(xr.shape[1], 1)), TrainConfig())
            model.fit(xr[..., None], yr, batch_size=NAIVE_BATCH, epochs=epochs, shuffle=True, verbose=0)
            pred = np.argmax(model.predict(data.test.x[..., None], batch_size=2048, verbose=0), axis=1)
            cells[f"{model_name}__{name}"] = {"macro_f1": macro_f1(data.test.y, pred),
                                              "steps": int(model.optimizer.iterations),
                                              "seconds": time.perf_counter() - cell_start}
    return {"seconds": time.perf_counter() - start, "cells": cells}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=os.environ.get("MITDB_DIR", str(ROOT.parent / "shared" / "data" / "mitdb")))
    p.add_argument("--quick", action="store_true", help="small stages, to check the script itself")
    args = p.parse_args()
    from benchmark.config import BENCHMARK_MODELS, BENCHMARK_RESAMPLERS, GRIDS
    from benchmark.provenance import git_commit, library_versions, machine

    m, v = machine(), library_versions()
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; commit {git_commit()}")
    print(f"numpy {v['numpy']}, tensorflow {v.get('tensorflow')}, keras {v['keras']}, "
          f"imbalanced-learn {v['imbalanced-learn']}; KERAS_BACKEND={os.environ.get('KERAS_BACKEND', 'tensorflow')}")
    peak, _ = isolated(matmul_peak)
    print(f"\n1. float32 matrix-multiply peak (2048², numpy): {peak:.0f} GFLOP/s")

    build, rss = isolated(build_beats_cold, args.data_dir)
    print(f"2. beat-set build from raw records: {build['beats']:,} beats in {build['seconds']:.1f} s "
          f"(peak {rss:,.0f} MiB)")

    cache = tempfile.mkdtemp(prefix="grid-speed-")
    isolated(warm_beat_cache, args.data_dir, cache)  # build the beat cache once for the later stages
    subset = SUBSET if args.quick else None
    print(f"\n3. resamplers on the {'20k subset of the' if args.quick else 'full'} intra training part")
    print(f"   {'resampler':22}{'seconds':>9}{'beats in':>10}{'beats out':>11}{'peak MiB':>10}  output digest")
    times = {}
    for name in (*BENCHMARK_RESAMPLERS, "imblearn_smote_enn"):
        r, rss = isolated(time_resampler, args.data_dir, cache, name, subset)
        times[name] = r
        print(f"   {name:22}{r['seconds']:9.1f}{r['n_in']:10,}{r['n_out']:11,}{rss:10,.0f}  {r['digest']}")
    ours, ref = times["smote_enn"], times["imblearn_smote_enn"]
    print(f"   SMOTE-ENN: ours {ref['seconds'] / ours['seconds']:.1f}x faster than imbalanced-learn's; outputs "
          f"{'IDENTICAL' if ours['digest'] == ref['digest'] else 'DIFFERENT'}")

    steps = 20 if args.quick else 60
    print(f"\n4. training throughput ({steps} steps after compiling; FLOP/s = 3 × forward FLOPs × samples/s)")
    print(f"   {'model':8}{'batch':>6}{'XLA':>5}{'step ms':>9}{'samples/s':>11}{'GFLOP/s':>9}{'of peak':>9}")
    step_ms, predict_s = {}, {}
    for model_name in BENCHMARK_MODELS:
        for batch in (128, 256):
            for jit in (False, True):
                r, _ = isolated(training_throughput, args.data_dir, cache, model_name, batch, jit, steps)
                print(f"   {model_name:8}{batch:6}{'on' if jit else 'off':>5}{r['step_ms']:9.1f}"
                      f"{r['samples_per_s']:11,.0f}{r['train_gflops']:9.2f}{r['train_gflops'] / peak:9.1%}")
                if batch == 128 and not jit:
                    step_ms[model_name], predict_s[model_name] = r["step_ms"], r["val_predict_s"]

    where = f"stratified subset {SUBSET} of the intra split" if args.quick else "the full intra split"
    print(f"\n5. a fixed small grid ({' × '.join(SMALL_GRID['models'])} models × "
          f"{', '.join(SMALL_GRID['resamplers'])}; seed 0; {where})")
    naive, naive_rss = isolated(naive_grid, args.data_dir, cache, subset, NAIVE_EPOCHS)
    harness, harness_rss = isolated(harness_grid, args.data_dir, cache, subset, 100 if args.quick else None)
    mean = lambda run: sum(c["macro_f1"] for c in run["cells"].values()) / len(run["cells"])  # noqa: E731
    b = harness["budget"]
    epochs = f"{NAIVE_EPOCHS} epoch{'s' * (NAIVE_EPOCHS != 1)}"
    print(f"   naive harness ({epochs} of model.fit per cell, imbalanced-learn resampling per model): "
          f"{naive['seconds']:.0f} s, mean macro F1 {mean(naive):.3f}, peak {naive_rss:,.0f} MiB")
    print(f"   this harness ({b['steps']:,} steps, validation every {b['eval_every']}, patience {b['patience']}; "
          f"resampled once per resampler): {harness['seconds']:.0f} s, mean macro F1 {mean(harness):.3f}, "
          f"peak {harness_rss:,.0f} MiB")
    print(f"   → {naive['seconds'] / harness['seconds']:.1f}x faster end to end, macro F1 "
          f"{mean(harness) - mean(naive):+.3f}")
    print(f"     {'cell':18}{'naive F1':>9}{'steps':>7}{'seconds':>9}   {'ours F1':>8}{'steps':>7}{'seconds':>9}")
    for cell in sorted(naive["cells"]):
        n, o = naive["cells"][cell], harness["cells"][cell]
        print(f"     {cell:18}{n['macro_f1']:9.3f}{n['steps']:7,}{n['seconds']:9.0f}   "
              f"{o['macro_f1']:8.3f}{o['steps']:7,}{o['seconds']:9.0f}")

    print("\n6. projected wall time on this machine (upper bounds: no early stopping; the naive harness: "
          f"{epochs} per cell, imbalanced-learn's resampling once per model)")
    if args.quick:
        print("   (not with --quick: it needs the full training part's resampling times)")
        return
    resample_s = sum(times[r]["seconds"] for r in BENCHMARK_RESAMPLERS)
    naive_resample_s = resample_s - times["smote_enn"]["seconds"] + times["imblearn_smote_enn"]["seconds"]
    for name in ("quick", "full"):
        g = GRIDS[name]
        checks = g.train.steps // g.train.eval_every
        per_seed = sum(len(g.resamplers) * (g.train.steps * step_ms[m] / 1000 + checks * predict_s[m])
                       for m in g.models)
        total = len(g.seeds) * (per_seed + resample_s)
        naive_per_seed = sum(NAIVE_EPOCHS * -(-times[r]["n_out"] // NAIVE_BATCH) * step_ms[m] / 1000
                             for m in g.models for r in g.resamplers) + len(g.models) * naive_resample_s
        naive_total = len(g.seeds) * naive_per_seed
        print(f"   {name:6} {len(g.models) * len(g.resamplers) * len(g.seeds):4} runs × {g.train.steps:,} steps: "
              f"{total / 3600:5.1f} h (training {len(g.seeds) * per_seed / 3600:.1f} h, resampling "
              f"{len(g.seeds) * resample_s / 60:.0f} min); naive harness {naive_total / 3600:.1f} h "
              f"(resampling {len(g.seeds) * len(g.models) * naive_resample_s / 3600:.1f} h)")

if __name__ == "__main__":
    main()
