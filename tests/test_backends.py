"""Models and training use only ``keras.*``, so any Keras backend runs the grid."""
import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BACKEND_FREE = [*sorted((ROOT / "models").glob("*.py")), ROOT / "benchmark/running/trainer.py",
                ROOT / "benchmark/estimators/keras_estimator.py", ROOT / "benchmark/estimators/base.py",
                ROOT / "benchmark/running/evaluate.py",
                ROOT / "benchmark/metrics/evaluator.py"]


@pytest.mark.parametrize("path", BACKEND_FREE, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_backend_specific_imports(path):
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"tensorflow", "jax", "torch"}, f"{path.name} imports {imported}"


@pytest.mark.slow  # ~40 s per backend: .ci/run runs it deliberately
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_one_tiny_cell_on_another_backend(backend, tiny_db, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    results = tmp_path / "results"
    args = ["--grid", "smoke", "--models", "mlp", "resnet", "--resamplers", "none", "--steps", "6", "--eval-every",
            "3", "--data-dir", str(tiny_db), "--cache-dir", str(tmp_path / "cache"), "--results-dir", str(results)]
    for command in ("run", "evaluate"):  # the saved models load on this backend and predict what the runs did
        proc = subprocess.run([sys.executable, "run_benchmark.py", command, *args], cwd=ROOT,
                              env={**os.environ, "KERAS_BACKEND": backend}, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    runs = list(results.glob("intra/*/runs/*/metrics.json"))
    assert len(runs) == 2
    for path in runs:
        metrics = json.loads(path.read_text())
        assert metrics["provenance"]["keras_backend"] == backend
        assert metrics["optimizer_steps"] == 6
