"""Where a training step of ``ecgtransform`` spends its time on this machine, by taking parts away.

    python benchmarks/ecgtransform_cost.py [--steps 10] [--backends tensorflow jax]

The strong model of issue #22 trains far slower on a CPU than the benchmark's four models (README: its inter
runs wait for a GPU). This says why: ms per optimizer step at batch 128 (``compile_model`` and ``model.fit``,
the trainer's path) of the published design and of the same builder with one part changed (no dropout in
the encoder, a narrow feed-forward, no encoder at all), each in a fresh process, side by side in one run.
Beats are random numbers of the real shape (187 × 1): a step's cost does not depend on their values.
Variants are timing probes only: the grid always trains the published design.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from grid_speed import isolated  # noqa: E402

# (label, builder hyperparameters changed from the published design)
VARIANTS = (
    ("published design", {}),
    ("encoder dropout 0 (of 0.1)", {"attention_dropout": 0.0}),
    ("feed-forward 32 wide (of 2048)", {"ff_dim": 32}),
    ("no encoder layers (convolutions only)", {"layers": 0}),
)
BATCH = 128
PREDICTED = 1024  # beats whose prediction is timed, at the trainer's prediction batch


def measure(params: dict, steps: int) -> dict:
    """In this process: ms per step of ``steps`` steps after a first (tracing) one, and seconds to predict
    1,000 beats."""
    import time

    import numpy as np

    from benchmark.config import TrainConfig
    from benchmark.estimators.keras_estimator import compile_model, predict_probabilities
    from models import build_model

    import keras

    keras.utils.set_random_seed(0)
    model = compile_model(build_model("ecgtransform", input_shape=(187, 1), n_classes=5, **params), TrainConfig(),
                          jit_compile=keras.backend.backend() == "jax")  # as --jit auto: JAX compiled, TF not
    rng = np.random.default_rng(0)
    x = rng.standard_normal((max(BATCH * (steps + 1), PREDICTED), 187, 1)).astype(np.float32)
    y = rng.integers(0, 5, len(x))
    start = time.perf_counter()
    model.fit(x[:BATCH], y[:BATCH], batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    first = time.perf_counter() - start
    start = time.perf_counter()
    timed = slice(BATCH, BATCH * (steps + 1))
    model.fit(x[timed], y[timed], batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    step_ms = 1000 * (time.perf_counter() - start) / steps
    predict_probabilities(model, x[:PREDICTED])  # traced once, then timed: validation and test predictions
    start = time.perf_counter()
    predict_probabilities(model, x[:PREDICTED])
    return {"step_ms": step_ms, "first_s": first, "n_params": int(model.count_params()),
            "predict_s_per_1000": 1000 * (time.perf_counter() - start) / PREDICTED}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=10, help="timed steps per variant, after the first")
    p.add_argument("--backends", nargs="+", default=["tensorflow", "jax"], choices=["tensorflow", "jax"])
    args = p.parse_args()
    from benchmark.provenance import git_commit, library_versions, machine

    m, v = machine(), library_versions()
    print(f"machine: {m['cpu']}, {m['cores']} cores; commit {git_commit()}")
    print(f"keras {v.get('keras')}, tensorflow {v.get('tensorflow')}, jax {v.get('jax')}; batch {BATCH}, "
          f"{args.steps} timed steps each (JAX: compiled, as the trainer always runs it)\n")
    print(f"{'variant':40}{'backend':>12}{'params':>10}{'first s':>9}{'ms/step':>10}{'of published':>14}"
          f"{'predict s/1000':>16}")
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    for backend in args.backends:
        os.environ["KERAS_BACKEND"] = backend  # read by each fresh process when it imports Keras
        base = None
        for label, params in VARIANTS:
            r, _ = isolated(measure, params, args.steps)
            base = base or r["step_ms"]
            print(f"{label:40}{backend:>12}{r['n_params']:10,}{r['first_s']:9.1f}{r['step_ms']:10.0f}"
                  f"{r['step_ms'] / base:14.2f}{r['predict_s_per_1000']:16.1f}", flush=True)


if __name__ == "__main__":
    main()
