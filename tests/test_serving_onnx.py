"""A bundle's ONNX copy: written at export and checked against Keras, the onnx runtime giving Keras' classes
(in predict, the CLI and the server) without TensorFlow in its process, and every failure recorded, never
raised. Skipped, with the reason, without the onnx extra."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

for _module in ("onnxruntime", "onnx", "tf2onnx"):
    pytest.importorskip(_module, reason=f"{_module} is not installed: pip install -e \".[onnx]\"")

from benchmark.cli import main  # noqa: E402
from benchmark.errors import DataError  # noqa: E402
from benchmark.serving import onnx_model  # noqa: E402
from benchmark.serving.bundle import export_bundle, load_bundle  # noqa: E402
from tests.conftest import write_record  # noqa: E402
from tests.test_serving import GRID, MLP_RUN  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle")
    export_bundle(GRID, MLP_RUN, out)
    return out


def test_export_writes_an_onnx_copy_within_the_tolerance(bundle_dir):
    record = json.loads((bundle_dir / "bundle.json").read_text())["onnx"]
    assert record["written"] is True and (bundle_dir / record["file"]).stat().st_size > 1000
    assert record["tolerance"] == onnx_model.TOLERANCE == 1e-4 and record["check_beats"] == onnx_model.CHECK_BEATS
    assert 0 <= record["max_abs_difference"] <= 1e-4 and record["same_classes"] is True
    assert "Model.export(format='onnx')" in record["exporter"] and set(record["versions"]) == {"tf2onnx", "onnx",
                                                                                               "onnxruntime"}


def test_the_onnx_runtime_gives_the_keras_classes(bundle_dir, tmp_path):
    from benchmark.serving.inputs import read_input

    keras_bundle, onnx_bundle = load_bundle(bundle_dir), load_bundle(bundle_dir, "onnx")
    assert onnx_bundle.runtime == "onnx" and isinstance(onnx_bundle.estimator, onnx_model.OnnxModel)
    write_record(tmp_path, "400", n_beats=60, seed=3)
    for x in (np.random.default_rng(1).random((300, 187), dtype=np.float32), read_input(tmp_path / "400").x):
        expected, got = keras_bundle.predict_proba(x), onnx_bundle.predict_proba(x)
        assert np.array_equal(got.argmax(axis=1), expected.argmax(axis=1))
        np.testing.assert_allclose(got, expected, atol=onnx_model.TOLERANCE, rtol=0)
    out = {}
    for runtime in ("keras", "onnx"):
        out[runtime] = tmp_path / f"{runtime}.csv"
        assert main(["predict", str(bundle_dir), str(tmp_path / "400"), "--runtime", runtime,
                     "--out", str(out[runtime])]) == 0
    classes = [[line.split(",")[2] for line in out[r].read_text().splitlines()] for r in ("keras", "onnx")]
    assert classes[0] == classes[1] and len(classes[0]) > 50


def test_serve_runtime_onnx_serves_the_onnx_copy(bundle_dir, monkeypatch):
    import uvicorn
    from fastapi.testclient import TestClient

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(app=app, **kw))
    assert main(["serve", str(bundle_dir), "--runtime", "onnx", "--port", "8123"]) == 0
    client = TestClient(served["app"])
    assert served["port"] == 8123 and client.get("/health").json()["runtime"] == "onnx"
    x = np.random.default_rng(2).random((4, 187)).round(4)
    predictions = client.post("/predict", json={"beats": x.tolist()}).json()["predictions"]
    expected = load_bundle(bundle_dir).predict_proba(x.astype(np.float32)).argmax(axis=1)
    assert [p["class"] for p in predictions] == [load_bundle(bundle_dir).classes[i] for i in expected]


def test_the_onnx_runtime_never_imports_tensorflow(bundle_dir):
    """The server made by the uvicorn factory with ECG_BENCH_RUNTIME=onnx, in a fresh process."""
    script = """
import sys
from fastapi.testclient import TestClient
from benchmark.serving.app import from_environment
client = TestClient(from_environment())
beat = [[0.5] * 187]
assert client.post("/predict", json={"beats": beat}).status_code == 200
assert client.get("/health").json()["runtime"] == "onnx"
print(sorted(m for m in ("tensorflow", "keras", "jax", "torch") if m in sys.modules))
"""
    env = {**os.environ, "ECG_BENCH_BUNDLE": str(bundle_dir), "ECG_BENCH_RUNTIME": "onnx",
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_failed_export_is_recorded_and_never_fails_export(tmp_path, monkeypatch, caplog):
    import keras

    def broken(self, *args, **kwargs):
        raise RuntimeError("an op tf2onnx cannot convert")

    monkeypatch.setattr(keras.Model, "export", broken)
    assert main(["export", "--run", str(GRID.run_dir(MLP_RUN)), "--out", str(tmp_path / "b")]) == 0
    record = json.loads((tmp_path / "b" / "bundle.json").read_text())["onnx"]
    assert record["written"] is False and "RuntimeError: an op tf2onnx cannot convert" in record["reason"]
    assert not (tmp_path / "b" / onnx_model.ONNX_FILE).exists()
    assert "no ONNX copy of the model" in caplog.text
    with pytest.raises(DataError, match="has no ONNX copy .*cannot convert"):
        load_bundle(tmp_path / "b", "onnx")
    assert load_bundle(tmp_path / "b").predict_proba(np.zeros((2, 187), np.float32)).shape == (2, 5)


def test_a_copy_that_differs_from_keras_is_not_kept(tmp_path, monkeypatch):
    exact = onnx_model.OnnxModel.predict_proba
    monkeypatch.setattr(onnx_model.OnnxModel, "predict_proba", lambda self, x: exact(self, x) + 1e-3)
    export_bundle(GRID, MLP_RUN, tmp_path / "b")
    record = json.loads((tmp_path / "b" / "bundle.json").read_text())["onnx"]
    assert record["written"] is False and "differ from Keras' by up to 0.001" in record["reason"]
    assert record["max_abs_difference"] == pytest.approx(1e-3, rel=1e-2)
    assert not (tmp_path / "b" / onnx_model.ONNX_FILE).exists()
