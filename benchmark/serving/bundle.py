"""A bundle: one run's saved model copied out of the run store with everything needed to use it alone.

``bundle.json`` says which classes the model predicts, how its beats must be built (the beat builder's
parameters), the class prior it trained under, which run, data and commit made it and how it scored on its
test part. The model file is copied as saved: Keras' native ``.keras`` (loaded in safe mode, so a file
cannot run code) or a skops ``.skops`` (loaded only with scikit-learn's and NumPy's own types); a Keras
model also gets an ONNX copy where it exports cleanly (``benchmark.serving.onnx_model``), which the
``onnx`` runtime runs without TensorFlow.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.data.beats import BuildParams
from benchmark.data.inputs import InputConfig, model_inputs
from benchmark.errors import DataError
from benchmark.files import atomic_write, write_json, write_text
from benchmark.serving.model_card import MODEL_CARD, model_card, seen_warning

METADATA = "bundle.json"
FORMAT = 1  # of bundle.json; raised when its meaning changes
RUNTIMES = ("keras", "onnx")  # what runs a bundle's model: its own file, or its ONNX copy with onnxruntime
PREDICT_BATCH = 2048  # beats per model call
log = logging.getLogger(__name__)


def best_run(store) -> str:
    """The run of ``store`` with the highest validation macro F1 (``best_val_macro_f1``), among runs with a
    saved model, of the grid's current runs (not those it superseded). Ties go to the run id first in
    alphabetical order, so the choice never depends on the order runs finished. Test scores are never read."""
    candidates = []
    for run_id in sorted(set(store.manifest().get("runs", []))):
        metrics = store.metrics(run_id)
        if metrics is None or store.model_path(run_id) is None:
            continue
        candidates.append((-float(metrics["best_val_macro_f1"]), run_id))
    if not candidates:
        raise DataError(f"{store.path}: no finished run with a saved model; run the grid first")
    return min(candidates)[1]


def bundle_metadata(store, run_id: str, model_file: str) -> dict:
    """What ``bundle.json`` holds for run ``run_id`` of ``store``."""
    from benchmark.data.inputs import inputs_of
    from benchmark.metrics.priors import training_prior
    from benchmark.tasks import task_of

    metrics = store.metrics(run_id)
    task = task_of(store.manifest())
    inputs = inputs_of(store.manifest())
    prior_source = ("recorded by the run" if metrics["resampling"].get("trained_prior") is not None
                    else "recomputed from the run's training class counts and its treatment's loss weights")
    prior = training_prior(metrics, task.classes)
    provenance = metrics.get("provenance") or {}
    return {
        "format": FORMAT,
        "task": task.name, "classes": list(task.classes),
        "class_names": {c: task.long_names[c] for c in task.classes},
        "model": metrics["model"], "model_file": model_file,
        "beats": {**BuildParams().as_dict(),
                  "builder": "benchmark.data.beats.segment_record (every grid builds its beats with these defaults)",
                  "input_shape": [inputs.length(BuildParams().length) + inputs.n_features, 1]},
        "inputs": {**inputs.as_dict(), "features": list(inputs.feature_names),
                   "builder": "benchmark.data.inputs.model_inputs (waveform, then the features in this order)"},
        "trained_prior": dict(zip(task.classes, (float(p) for p in prior))), "trained_prior_source": prior_source,
        "run": {"run_id": run_id, "resampler": metrics["resampler"], "seed": metrics["seed"],
                "split": store.split, "grid": metrics.get("grid", store.name), "grid_directory": store.name,
                "config": metrics.get("config"), "best_step": metrics.get("best_step"),
                "best_val_macro_f1": metrics["best_val_macro_f1"], "finished": metrics.get("finished")},
        "data_key": metrics.get("data_key"),
        "commit": provenance.get("commit"),
        "test": metrics["test"],
        "training_records": list(store.manifest().get("train_records", [])),  # to warn of recordings it has seen
    }


def export_bundle(store, run_id: str, out: Path) -> Path:
    """Write run ``run_id`` of ``store`` as a bundle in folder ``out``; returns the path of its metadata."""
    run_dir = store.run_dir(run_id)
    if store.metrics(run_id) is None:
        raise DataError(f"{run_dir}: not a finished run (no metrics.json); name a run folder under "
                        f"{store.path / 'runs'}")
    model = store.model_path(run_id)
    if model is None:
        raise DataError(f"{run_dir}: the run saved no model (no model.keras or model.skops), so there is nothing "
                        "to export; rerun it with --overwrite to keep its model")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    metadata = bundle_metadata(store, run_id, model.name)
    data = model.read_bytes()
    atomic_write(out / model.name, lambda f: f.write(data), binary=True)
    metadata["model_card"] = MODEL_CARD
    write_text(out / MODEL_CARD, model_card(store, run_id, metadata))
    metadata["onnx"] = {"written": False, "reason": "the export to ONNX did not finish"}
    write_json(out / METADATA, metadata)  # the bundle is whole before the ONNX step, whatever becomes of it
    metadata["onnx"] = onnx = _export_onnx(metadata, out)
    write_json(out / METADATA, metadata)
    if onnx["written"]:
        log.info("wrote %s: onnxruntime's probabilities within %.2g of Keras' on %d check beats (tolerance %g)",
                 out / onnx["file"], onnx["max_abs_difference"], onnx["check_beats"], onnx["tolerance"])
    else:
        log.warning("no ONNX copy of the model: %s", onnx["reason"])
    return out / METADATA


def _export_onnx(metadata: dict, out: Path) -> dict:
    """The bundle's ONNX copy, written beside its model where it exports cleanly; what happened, for bundle.json."""
    from benchmark.serving import onnx_model

    if not metadata["model_file"].endswith(".keras"):
        (out / onnx_model.ONNX_FILE).unlink(missing_ok=True)
        return onnx_model.not_attempted(metadata["model_file"])
    try:
        model = _load_keras(out / metadata["model_file"])
    except DataError as exc:
        return {"written": False, "reason": f"export failed: {exc}"}
    return onnx_model.export_onnx(model, out)


def store_of_run(run_dir: Path):
    """The grid store and run id of a run folder ``<grid>/runs/<run_id>``."""
    from benchmark.store import GridStore

    run_dir = Path(run_dir)
    store = GridStore(run_dir.parent.parent)
    if not store.exists() or store.run_dir(run_dir.name) != run_dir:
        raise DataError(f"{run_dir}: not a run folder of a grid (expected <results>/<split>/<grid>/runs/<run_id>, "
                        "next to the grid's grid.json)")
    return store, run_dir.name


@dataclass
class Bundle:
    """A loaded bundle: its metadata and its model, ready to predict."""

    path: Path
    metadata: dict
    estimator: object  # predict_proba over rows of the model input
    runtime: str = "keras"

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.metadata["classes"])

    @property
    def card(self) -> str | None:
        """The bundle's model card (``MODEL_CARD.md``); None for a bundle exported before it had one."""
        path = self.path / self.metadata.get("model_card", MODEL_CARD)
        return path.read_text() if path.exists() else None

    def warnings(self, beats) -> list[str]:
        """What to say before trusting its predictions of ``beats`` (a recording it was trained on)."""
        return [w for w in (seen_warning(self.metadata, getattr(beats, "record", None)),) if w]

    @property
    def params(self) -> BuildParams:
        fields = BuildParams.__dataclass_fields__
        return BuildParams(**{k: v for k, v in self.metadata["beats"].items() if k in fields})

    @property
    def length(self) -> int:
        return self.params.length

    @property
    def inputs(self) -> InputConfig:
        """What the model sees of a beat (bundles exported before input options: the whole window)."""
        return InputConfig.from_dict({k: v for k, v in (self.metadata.get("inputs") or {}).items()
                                      if k in InputConfig.__dataclass_fields__})

    def predict_proba(self, beats: np.ndarray, rr: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities (n, classes) of beat windows (n, length) or (n, length, 1); ``rr``: their RR
        features (``benchmark.data.inputs.rr_features``), which a model trained with them needs."""
        beats = np.asarray(beats, dtype=np.float32)
        if beats.ndim == 3 and beats.shape[2] == 1:
            beats = beats[..., 0]
        if beats.ndim != 2 or beats.shape[1] != self.length:
            raise DataError(f"beats must be shaped (n, {self.length}), got {beats.shape}")
        if not len(beats):
            return np.zeros((0, len(self.classes)), np.float32)
        x = model_inputs(beats, self.inputs, rr, "single beats without their recording")
        return np.asarray(self.estimator.predict_proba(x), dtype=np.float32)


def load_bundle(path: Path, runtime: str = "keras") -> Bundle:
    """The bundle in folder ``path`` (``export_bundle``), its model loaded safely and ready to serve. ``runtime``:
    ``keras`` runs the bundle's model file; ``onnx`` its ONNX copy with onnxruntime (TensorFlow never imported)."""
    if runtime not in RUNTIMES:
        raise DataError(f"unknown runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
    path = Path(path)
    meta_path = path / METADATA
    if not meta_path.exists():
        raise DataError(f"{path}: not a bundle (no {METADATA}); make one with `run_benchmark.py export`")
    try:
        metadata = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{meta_path}: not valid JSON ({exc})") from exc
    if metadata.get("format") != FORMAT:
        raise DataError(f"{meta_path}: bundle format {metadata.get('format')!r}, this code reads {FORMAT}; "
                        "export the bundle again")
    if runtime == "onnx":
        return Bundle(path, metadata, _load_onnx(path, metadata), runtime)
    model_path = path / metadata["model_file"]
    if not model_path.exists():
        raise DataError(f"{model_path}: the bundle's model file is missing")
    return Bundle(path, metadata, _load_model(metadata["model"], model_path, len(metadata["classes"])), runtime)


def _load_onnx(path: Path, metadata: dict):
    from benchmark.serving.onnx_model import ONNX_FILE, OnnxModel

    record = metadata.get("onnx") or {"reason": "exported before bundles had ONNX copies"}
    if not record.get("written"):
        raise DataError(f"{path}: the bundle has no ONNX copy ({record.get('reason')}); use the keras runtime, or "
                        "export it again with the onnx extra installed")
    onnx_path = path / record.get("file", ONNX_FILE)
    if not onnx_path.exists():
        raise DataError(f"{onnx_path}: the bundle's ONNX file is missing; export the bundle again")
    return OnnxModel(onnx_path)


def _load_model(model_name: str, path: Path, n_classes: int):
    from benchmark.estimators import SklearnEstimator

    if path.suffix == SklearnEstimator.suffix:
        return SklearnEstimator.load(model_name, path, n_classes)  # skops, with its own trusted-types check
    if path.suffix != ".keras":
        raise DataError(f"{path}: unknown model format {path.suffix!r} (a bundle holds .keras or .skops)")
    return ServedKeras(_load_keras(path))


def _load_keras(path: Path):
    import keras

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:
        raise DataError(f"{path}: not a loadable Keras model ({exc})") from exc


class ServedKeras:
    """A Keras model's ``predict_proba`` for serving: ``predict_on_batch`` per chunk of beats, not ``predict``,
    whose data pipeline and callbacks cost about 100 ms a call on a CPU (a single beat's inference: about
    1 ms). Warmed at load with two batch sizes, so no request waits for a trace (Keras traces once per new
    shape, then once for any batch size); the probabilities are ``predict``'s (tests/test_serving.py)."""

    def __init__(self, model):
        self.model = model
        for n in (1, 2):
            self.predict_proba(np.zeros((n, *model.input_shape[1:]), np.float32))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 2:
            x = x[..., None]
        chunks = [self.model.predict_on_batch(x[i:i + PREDICT_BATCH]) for i in range(0, len(x), PREDICT_BATCH)]
        return np.concatenate([np.asarray(c, dtype=np.float32) for c in chunks])
