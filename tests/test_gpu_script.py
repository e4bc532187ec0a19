"""The GPU machine's script (benchmarks/gpu_full_grid.sh) and its way back (benchmarks/gpu_unpack.py), end to
end on this machine: records unpacked from a tar, two pieces of one grid trained model by model with the
packed executor, packed into parts, then merged into one results folder with its report; a piece that does
not fit the limit is left for later and says so."""
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from benchmark.store import RunStore
from tests.conftest import REAL_MITDB

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (REAL_MITDB / "100.dat").exists(), reason=f"no real records at {REAL_MITDB}")]


def device_call(tmp_path, name, models, **env):
    out = tmp_path / name
    done = subprocess.run(
        ["bash", "benchmarks/gpu_full_grid.sh", str(out), "intra", models, "--", "--executor", "packed",
         "--resamplers", "none", "random"],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
        env={**os.environ, "ECG_BENCH_COMMIT": "test-commit", "GRID": "smoke", "EST_SCALE": "0",
             "WORK": str(tmp_path / f"work-{name}"), "PYTHON": sys.executable, "DATA": str(tmp_path / "mitdb.tar"),
             "SVDB": str(tmp_path / "none"), "WHEELS": str(tmp_path / "none"), "KERAS_BACKEND": "jax", **env})
    return done, out


def test_two_pieces_trained_packed_and_sent_back_make_one_grid_here(tmp_path):
    pytest.importorskip("jax")
    with tarfile.open(tmp_path / "mitdb.tar", "w") as tar:  # as carried: a tar of the records' folder
        tar.add(REAL_MITDB, arcname="mitdb")
    first, out1 = device_call(tmp_path, "call1", "mlp")
    assert first.returncode == 0, first.stdout + first.stderr
    second, out2 = device_call(tmp_path, "call2", "mlp_128_64_16", RETURN_MB="0")  # models over the limit
    assert second.returncode == 0, second.stdout + second.stderr
    assert "packed again without the models" in (out2 / "gpu_full_grid.log").read_text()
    log = (out1 / "gpu_full_grid.log").read_text()
    assert "mitdb records in" in log and "(48 records)" in log and "packed 2 finished and 0 failed run(s), 2 saved model(s)" in log
    assert sorted(p.name for p in out1.iterdir()) == ["gpu_full_grid.log", "runs.tar.xz.part0"]

    late, out3 = device_call(tmp_path, "call3", "mlp", EST_SCALE="1", LIMIT_S="60")
    assert late.returncode == 3
    assert "not started: intra mlp" in (out3 / "gpu_full_grid.log").read_text()
    assert "no run finished: nothing to pack" in (out3 / "gpu_full_grid.log").read_text()

    results = tmp_path / "results"
    unpack = [sys.executable, "benchmarks/gpu_unpack.py", str(out1), str(out2), "--results-dir", str(results)]
    done = subprocess.run(unpack, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "intra/smoke: 2 run(s) added" in done.stdout
    store = RunStore(results).grid("intra", "smoke")
    manifest = store.manifest()
    assert manifest["models"] == ["mlp", "mlp_128_64_16"] and len(manifest["runs"]) == 4
    assert all(store.is_done(r) for r in manifest["runs"])
    assert [r for r in manifest["runs"] if store.model_path(r)] == [r for r in manifest["runs"] if r.startswith("mlp__")]
    report = store.file("REPORT.md").read_text()
    assert "- Evaluation `test`, in 2 pieces (the saved models reproduced 4 of 4 runs' test predictions exactly):" in report
    assert "test-commit (from ECG_BENCH_COMMIT)" in report
    assert sorted(p.name for p in (store.path / "gpu-logs").iterdir()) == ["call1.log", "call2.log"]

    again = subprocess.run(unpack, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "0 run(s) added, 0 completed, 2 already here" in again.stdout

    (out2 / "runs.tar.xz.part0").rename(out2 / "runs.tar.xz.part1")
    broken = subprocess.run([*unpack[:2], str(out2), "--results-dir", str(results)], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert broken.returncode != 0 and "are not 0..0: one is missing" in broken.stderr
