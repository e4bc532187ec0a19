"""Training speed of every model on each Keras backend, with and without XLA compilation, side by side.

    python benchmarks/backend_speed.py [--data-dir DIR] [--cache-dir DIR] [--steps 100]

What ``--jit auto`` chooses on a CPU rests on this: ms per optimizer step at batch 128 (the trainer's
``model.fit`` path, real intra beats) for TensorFlow and JAX, compiled and not, each model in a fresh
process. JAX uncompiled runs op by op, so it gets a fifth of the steps. Needs TensorFlow and JAX.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from grid_speed import isolated, training_throughput, warm_beat_cache  # noqa: E402

from benchmark.provenance import git_commit, library_versions, machine  # noqa: E402

MODELS = ("mlp", "cnn", "lstm", "resnet")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=os.environ.get("MITDB_DIR", "../shared/data/mitdb"))
    p.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "ecg-oversampling-bench"))
    p.add_argument("--steps", type=int, default=100)
    args = p.parse_args()
    m = machine()
    print(f"machine: {m['cpu']}, {m['cores']} cores; commit {git_commit()}")
    v = library_versions()
    print(f"keras {v.get('keras')}, tensorflow {v.get('tensorflow')}, jax {v.get('jax')}\n")
    warm_beat_cache(args.data_dir, args.cache_dir)
    rows = {}
    print(f"{'model':8}{'backend':>12}{'jit':>5}{'steps':>7}{'ms/step':>10}")
    for model in MODELS:
        for backend in ("tensorflow", "jax"):
            for jit in (False, True):
                steps = args.steps if (jit or backend == "tensorflow") else max(5, args.steps // 5)
                os.environ["KERAS_BACKEND"] = backend  # read by the fresh process when it imports Keras
                r, _ = isolated(training_throughput, args.data_dir, args.cache_dir, model, 128, jit, steps)
                rows[(model, backend, jit)] = r["step_ms"]
                print(f"{model:8}{backend:>12}{'on' if jit else 'off':>5}{steps:7}{r['step_ms']:10.2f}", flush=True)
    print("\nratios (ms per step; < 1 means the first is faster)")
    print(f"{'model':8}{'JAX on / TF off':>17}{'JAX on / JAX off':>18}{'TF on / TF off':>16}")
    for model in MODELS:
        g = lambda b, j: rows[(model, b, j)]  # noqa: E731
        print(f"{model:8}{g('jax', True) / g('tensorflow', False):17.2f}{g('jax', True) / g('jax', False):18.3f}"
              f"{g('tensorflow', True) / g('tensorflow', False):16.2f}")


if __name__ == "__main__":
    main()
