"""Ray executor: the same runs as in process, bit for bit, in the same run store; skipped without Ray."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # ~75 s: .ci/run installs the ray extra and runs these deliberately

from benchmark.config import GRIDS, DataConfig, Grid, TrainConfig, customise  # noqa: E402
from benchmark.data.splits import Split, load_split  # noqa: E402
from benchmark.running.executors import RayExecutor  # noqa: E402
from benchmark.running.plan import grid_directory  # noqa: E402
from benchmark.running.runner import run_grid  # noqa: E402
from tests.conftest import clustered_beats  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# The same grid twice, for the command line and for run_grid. Its resnet × random run's losses differ in
# the last bits when TensorFlow has 2 threads instead of 1.
CLI_GRID = ["--grid", "smoke", "--models", "resnet", "--resamplers", "none", "random", "--steps", "6",
            "--eval-every", "3", "--threads", "1"]
GRID = customise(GRIDS["smoke"], models=["resnet"], resamplers=["none", "random"], steps=6, eval_every=3)
GRID_DIR = grid_directory(GRID)
# The in-process executor runs in a fresh Python, so TensorFlow starts with --threads 1 as in the Ray
# workers (this one's TensorFlow may have started earlier with its default); exit 3 if it imported Ray.
LOCAL_CLI = "import sys; from benchmark.cli import main; sys.exit(main(sys.argv[1:]) or 3 * ('ray' in sys.modules))"


@pytest.fixture(scope="module")
def ray_instance():
    from benchmark.running.compute import configure

    configure(True)  # as the command line does (the default --deterministic), so the workers get it too
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def saved_runs(results: Path) -> dict:
    runs = {}
    for metrics in results.glob("intra/*/runs/*/metrics.json"):
        runs[metrics.parent.name] = (json.loads(metrics.read_text()), np.load(metrics.parent / "test_predictions.npy"))
    return runs


def test_ray_runs_equal_in_process_runs_and_each_resumes_the_other(ray_instance, tiny_db, tmp_path, messages):
    import keras

    # The command line chooses JAX when nothing names a backend; the Ray runs use this process's Keras.
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    local = subprocess.run([sys.executable, "-c", LOCAL_CLI, *CLI_GRID, "--data-dir", str(tiny_db),
                            "--cache-dir", str(tmp_path / "cache_local"), "--results-dir", str(tmp_path / "local")],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert local.returncode == 0, local.stderr[-3000:]
    split = load_split("intra", tiny_db, cache_dir=tmp_path / "cache_ray")
    outcome = run_grid(GRID, split, tmp_path / "ray", tmp_path / "cache_ray", executor=RayExecutor())
    assert len(outcome.done) == 2 and not outcome.failed
    assert sum("as a Ray task" in m for m in messages) == 2, "one resampling task per (resampler, seed)"

    local_runs, ray_runs = saved_runs(tmp_path / "local"), saved_runs(tmp_path / "ray")
    assert sorted(ray_runs) == sorted(local_runs) and len(ray_runs) == 2
    for run_id, (metrics, predictions) in ray_runs.items():
        expected, expected_predictions = local_runs[run_id]
        assert metrics["test"] == expected["test"], run_id  # macro F1, recall, confusion matrix, ...
        assert metrics["history"] == expected["history"], run_id  # every training loss, to the last bit
        assert metrics["resampling"]["train_class_counts"] == expected["resampling"]["train_class_counts"]
        assert np.array_equal(predictions, expected_predictions), run_id
        assert metrics["ran_on"]["process"] != os.getpid(), "the machine and device of the worker that trained it"
        assert metrics["ran_on"]["device"]["backend"] and metrics["ran_on"]["machine"]["cpu"]
        assert metrics["provenance"]["executor"] == {"name": "ray", "address": "local instance", "threads": 1,
                                                     "jit_compile": False}
        assert expected["provenance"]["executor"] == {"name": "local", "threads": 1, "jit_compile": False}
        model = tmp_path / "ray/intra" / GRID_DIR / "runs" / run_id / "model.keras"
        assert model.read_bytes()[:2] == b"PK", "runs on Ray keep their models too"
    cached = sorted((tmp_path / "cache_ray/resampled").glob("*.npz"))  # by the driver
    assert len(cached) == 2
    for resampled in cached:
        with np.load(resampled) as ray_part, np.load(tmp_path / "cache_local/resampled" / resampled.name) as part:
            assert np.array_equal(ray_part["x"], part["x"]) and np.array_equal(ray_part["y"], part["y"])

    on_ray = run_grid(GRID, split, tmp_path / "local", tmp_path / "cache_ray", executor=RayExecutor())
    in_process = run_grid(GRID, split, tmp_path / "ray", tmp_path / "cache_ray")
    assert on_ray.done == in_process.done == [] and len(on_ray.skipped) == len(in_process.skipped) == 2

    messages.clear()  # a cached resampled set is used without a task
    mlp = run_grid(customise(GRID, models=["mlp"]), split, tmp_path / "ray", tmp_path / "cache_ray",
                   executor=RayExecutor())
    assert len(mlp.done) == 2 and any("on Ray: 0 resampling and 2 training tasks" in m for m in messages)


def test_failed_resampler_is_recorded_on_ray_as_in_process(ray_instance, tmp_path):
    b = clustered_beats(n_per_class=(150, 3, 30, 12, 25), seed=1)  # 3 S beats: SMOTE needs 6
    split = Split("intra", b, b, b, "synthetic", "k2")
    grid = Grid("test", ("mlp",), ("smote", "none"), (0,), TrainConfig(steps=4, batch_size=16, eval_every=2),
                DataConfig(split="intra"))
    on_ray = run_grid(grid, split, tmp_path / "ray", tmp_path / "cache", executor=RayExecutor())
    in_process = run_grid(grid, split, tmp_path / "local", tmp_path / "cache")
    assert len(on_ray.done) == 1 and on_ray.failed == in_process.failed and len(on_ray.failed) == 1
    (failed_id, reason), = on_ray.failed.items()
    assert failed_id.startswith("mlp__smote__") and reason.startswith("ResamplingError: ") and "smote" in reason
    error = json.loads((tmp_path / "ray/intra" / grid_directory(grid) / "runs" / failed_id / "error.json").read_text())
    assert error["error"] == reason and "ray::resample_training_part()" in error["traceback"]
