"""A bundle's ONNX copy: written at export with Keras' own exporter (``Model.export(format="onnx")``, tf2onnx on
TensorFlow), kept only when onnxruntime gives the Keras model's probabilities on a set of check beats, and run
with onnxruntime alone, so a server can classify beats without TensorFlow in its process.

What happened is recorded in ``bundle.json`` under ``"onnx"``: the file and the measured difference, or why
there is none. A failed export is reported there and never fails ``export``.
"""
from __future__ import annotations

import importlib.metadata
import warnings
from pathlib import Path

import numpy as np

from benchmark.errors import DataError

ONNX_FILE = "model.onnx"
TOLERANCE = 1e-4  # the largest absolute difference in any class probability that keeps the ONNX copy
CHECK_BEATS = 64  # beats of the check: uniform in [0, 1], the range of a normalised beat window


def check_inputs(input_shape: tuple[int, ...], n: int = CHECK_BEATS) -> np.ndarray:
    """The check's model inputs (n, *input_shape), float32, the same for every export."""
    return np.random.default_rng(0).random((n, *input_shape), dtype=np.float32)


def export_onnx(keras_model, out_dir: Path) -> dict:
    """Write ``out_dir/model.onnx`` from ``keras_model`` and check it against the Keras model on
    ``check_inputs``; returns what ``bundle.json`` records. Never raises: a failure is the record's ``reason``."""
    out_dir = Path(out_dir)
    path = out_dir / ONNX_FILE
    path.unlink(missing_ok=True)  # a stale copy from an earlier export must not outlive a failed one
    missing = [m for m in ("tf2onnx", "onnx", "onnxruntime") if not _installed(m)]
    if missing:
        return {"written": False, "reason": f"not attempted: {', '.join(missing)} not installed "
                                            "(pip install -e \".[onnx]\" and export again)"}
    import keras

    versions = {m: importlib.metadata.version(m) for m in ("tf2onnx", "onnx", "onnxruntime")}
    exporter = f"keras {keras.__version__} Model.export(format='onnx') on the {keras.backend.backend()} backend"
    shape = tuple(keras_model.input_shape[1:])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf2onnx's FutureWarnings about NumPy
            keras_model.export(str(path), format="onnx", verbose=False,
                               input_signature=[keras.InputSpec(shape=(None, *shape), dtype="float32")])
        x = check_inputs(shape)
        expected = np.asarray(keras_model.predict_on_batch(x), dtype=np.float32)
        got = OnnxModel(path).predict_proba(x)
    except Exception as exc:  # any exporter or runtime failure is reported, not raised
        path.unlink(missing_ok=True)
        return {"written": False, "exporter": exporter, "versions": versions,
                "reason": f"export failed: {type(exc).__name__}: {str(exc)[:500]}"}
    difference = float(np.max(np.abs(got - expected)))
    same_classes = bool(np.array_equal(got.argmax(axis=1), expected.argmax(axis=1)))
    record = {"exporter": exporter, "versions": versions, "check_beats": len(x),
              "max_abs_difference": difference, "tolerance": TOLERANCE, "same_classes": same_classes}
    if difference > TOLERANCE or not same_classes:
        path.unlink()
        return {"written": False, **record,
                "reason": f"onnxruntime's probabilities differ from Keras' by up to {difference:.3g} (tolerance "
                          f"{TOLERANCE:g}){'' if same_classes else ', and some classes differ'}: not kept"}
    return {"written": True, "file": ONNX_FILE, **record}


def not_attempted(model_file: str) -> dict:
    return {"written": False, "reason": f"not attempted: {model_file} is a scikit-learn model (skops); "
                                        "only Keras models are exported to ONNX"}


class OnnxModel:
    """An ONNX model run by onnxruntime, with the estimators' ``predict_proba`` (rows of the model input)."""

    def __init__(self, path: Path):
        try:
            import onnxruntime
        except ImportError as exc:
            raise DataError(f"{path}: the onnx runtime needs onnxruntime ({exc}); pip install -e \".[onnx]\", "
                            "or use --runtime keras") from None
        options = onnxruntime.SessionOptions()
        # no busy-waiting between calls: a server's threads wait for requests, and spinning ones take the CPU
        # from the rest of the request (measured: a 1,000-beat call's CPU time doubled on 2 cores)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise DataError(f"{path}: not a loadable ONNX model ({exc}); export the bundle again") from exc
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.input_shape = tuple(model_input.shape[1:])

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 2:
            x = x[..., None]
        return np.asarray(self.session.run(None, {self.input_name: x})[0], dtype=np.float32)


def _installed(module: str) -> bool:
    try:
        importlib.metadata.version(module)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False
