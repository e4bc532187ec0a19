"""The run store: the one module that knows where results and caches live on disk.

Layout of a results root (``--results-dir``)::

    <root>/README.md                          overview of every grid below (reporting)
    <root>/<split>/<grid>/grid.json           the grid's manifest: settings, cells and their runs
    <root>/<split>/<grid>/test_labels.npy     true class of every test beat (int8)
    <root>/<split>/<grid>/test_records.npy    record (patient) of every test beat, same order
    <root>/<split>/<grid>/runs/<run_id>/metrics.json          written last: its presence means "done"
    <root>/<split>/<grid>/runs/<run_id>/test_predictions.npy  predicted class of every test beat
    <root>/<split>/<grid>/runs/<run_id>/test_probabilities.npz class probabilities of every test beat
                                                              (float16, compressed, with its checksum)
    <root>/<split>/<grid>/runs/<run_id>/model.keras           the trained model (Keras native format; a
                                                              scikit-learn model: model.skops)
    <root>/<split>/<grid>/runs/<run_id>/anytime.npz           the test predictions (int8) and probabilities
                                                              (float16) of the best checkpoint up to each
                                                              fraction of the budget whose best is not the
                                                              final one (metrics.json's ``anytime`` scores all)
    <root>/<split>/<grid>/runs/<run_id>/checkpoint/           an unfinished run's last check, which a rerun
                                                              resumes from; removed when the run finishes
    <root>/<split>/<grid>/runs/<run_id>/error.json            a failed run's reason (retried next time)
    <root>/<split>/<grid>/evaluations/<set>.csv               saved models scored on another test set
    <root>/<split>/<grid>/evaluations/<set>.json              who scored them: command, commit, machine, device
    <root>/<split>/<grid>/evaluations/<set>.npz               that set's beats in order (labels, records,
                                                              samples), each run's predicted classes and
                                                              (where kept) its class probabilities as
                                                              float16, compressed, with their checksum
    <root>/<split>/<grid>/REPORT.md, summary.*, runs.csv, significance.csv, figures/   (reporting)
    <root>/<split>/<grid>/gpu-logs/<call>.log                 the log of each GPU call that trained a piece of the
                                                              grid (``benchmark.running.merge``; the manifest's
                                                              ``pieces`` holds each piece's provenance)
    <root>/<split>/<grid>/transfer/<target>/transfer.json     the grid's saved models carried to another
                                                              database (``benchmark.transfer``): its split into
                                                              fine-tuning, validation and test records, and
                                                              which transfer run fills each cell
    <root>/<split>/<grid>/transfer/<target>/test_labels.npy, test_records.npy, runs/<run_id>/...
                                                              the target's test part and its runs, laid out as
                                                              a grid's are
    <root>/<split>/<grid>/TRANSFER.md                         their report (``benchmark.transfer.report``)
    <root>/<split>/tuning/<study>/study.sqlite3   a tune's Optuna study: every trial, so it resumes (tuning)
    <root>/<split>/tuning/<study>/study.lock      held by the process running the study
    <root>/<split>/tuning/<study>/TUNING.md, trials.csv, confirmations.csv, best_params.json, figures/

Grids live side by side, each in its own directory, so no grid ever overwrites another's runs,
labels or tables. A grid directory holds one data set and one training budget: writing runs of other
data into it is refused. Every file is written atomically (``benchmark.files``).

Caches (``--cache-dir``): ``resampled/<key>.npz``, a resampled training part with its checksum.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from benchmark.tasks import AAMI_CLASSES
from benchmark.errors import DataError
from benchmark.files import atomic_write, load_arrays, save_arrays, write_json

MANIFEST = "grid.json"
METRICS = "metrics.json"
ERROR = "error.json"
PREDICTIONS = "test_predictions.npy"
PROBABILITIES = "test_probabilities.npz"
ANYTIME = "anytime.npz"
CHECKPOINT_DIR = "checkpoint"
MODEL_STEM = "model"  # model.keras (Keras), model.skops (scikit-learn)
TEST_LABELS = "test_labels.npy"
TEST_RECORDS = "test_records.npy"
RUNS = "runs"
EVALUATIONS = "evaluations"
_RUN_KEY = "run:"  # an evaluation file's key of a run's predictions
_PROBA_KEY = "proba:"  # an evaluation file's key of a run's class probabilities
PRIOR_CORRECTED = "test_prior_corrected"  # the evaluation of every re-weighted run with its prior moved back
TRANSFER = "transfer"  # <grid>/transfer/<target>/: the grid's saved models fine-tuned on another database
TRANSFER_MANIFEST = "transfer.json"
TRANSFER_REPORT = "TRANSFER.md"


class StoreError(DataError):
    """The run store refuses a write that would mix or lose results."""


def _save_npy(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, array), binary=True)


@dataclass(frozen=True)
class GridStore:
    """One grid's directory: its manifest, its test part's identity and its runs."""

    path: Path
    manifest_name: ClassVar[str] = MANIFEST
    missing: ClassVar[str] = "no grid has been run here; run a grid first"

    @property
    def split(self) -> str:
        return self.path.parent.name

    @property
    def name(self) -> str:
        return self.path.name

    def run_dir(self, run_id: str) -> Path:
        return self.path / RUNS / run_id

    # ------------------------------------------------------------------ manifest

    def exists(self) -> bool:
        return (self.path / self.manifest_name).exists()

    def manifest(self) -> dict:
        path = self.path / self.manifest_name
        if not path.exists():
            raise FileNotFoundError(f"{path}: {self.missing}")
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise StoreError(f"{path}: not valid JSON ({exc})") from exc

    def write_manifest(self, manifest: dict) -> None:
        write_json(self.path / self.manifest_name, manifest)

    # ------------------------------------------------------------------ transfer to other databases

    def transfer(self, target: str) -> "TransferStore":
        """The runs that carry this grid's saved models to the database ``target`` (``benchmark.transfer``)."""
        return TransferStore(self.path / TRANSFER / target)

    def transfers(self) -> list["TransferStore"]:
        """Every target this grid's models were carried to, by name."""
        return [TransferStore(p.parent) for p in sorted((self.path / TRANSFER).glob(f"*/{TRANSFER_MANIFEST}"))]

    # ------------------------------------------------------------------ the test part

    def write_test_part(self, labels: np.ndarray, records: np.ndarray) -> None:
        """Save the test part's labels and records; refuse when they differ from the saved ones, since
        every run of a grid must be scored on the same beats."""
        labels, records = np.asarray(labels, np.int8), np.asarray(records).astype("U8")
        if (self.path / TEST_LABELS).exists():
            old_labels, old_records = self.test_labels(), self.test_records()
            same = np.array_equal(old_labels, labels) and (old_records is None or np.array_equal(old_records, records))
            if not same:
                raise StoreError(f"{self.path / TEST_LABELS}: this grid's saved test part differs from the one "
                                 f"being run ({len(old_labels)} beats saved, {len(labels)} now); its runs would "
                                 "mix two test sets. Use another --results-dir for the new data")
            if old_records is not None:
                return
        _save_npy(self.path / TEST_LABELS, labels)
        _save_npy(self.path / TEST_RECORDS, records)

    def test_labels(self) -> np.ndarray:
        return np.load(self.path / TEST_LABELS)

    def test_records(self) -> np.ndarray | None:
        path = self.path / TEST_RECORDS
        return np.load(path) if path.exists() else None

    # ------------------------------------------------------------------ runs

    def is_done(self, run_id: str) -> bool:
        return (self.run_dir(run_id) / METRICS).exists()

    def checkpoint_dir(self, run_id: str) -> Path:
        """Where an unfinished run keeps its last check (``benchmark.estimators.control``)."""
        return self.run_dir(run_id) / CHECKPOINT_DIR

    def write_run(self, run_id: str, metrics: dict, predictions: np.ndarray, model: bytes | None,
                  probabilities: np.ndarray | None = None, model_suffix: str = ".keras",
                  anytime: dict[str, tuple] | None = None) -> None:
        """A finished run: predictions, probabilities, anytime checkpoints' predictions ({fraction: (predictions,
        probabilities)}) and model first, metrics last (its presence marks the run done), then its checkpoint
        goes. ``model_suffix``: the saved model's format (``.keras``, ``.skops``)."""
        run_dir = self.run_dir(run_id)
        _save_npy(run_dir / PREDICTIONS, np.asarray(predictions, np.int8))
        if probabilities is not None:
            self.write_probabilities(run_id, probabilities)
        if anytime:
            arrays = {f"{kind}:{fraction}": np.asarray(a, dtype) for fraction, pair in anytime.items()
                      for kind, a, dtype in zip(("predictions", "probabilities"), pair, (np.int8, np.float16))}
            save_arrays(run_dir / ANYTIME, arrays, compressed=True, what="results directory", advice="--results-dir")
        if model is not None:
            atomic_write(run_dir / f"{MODEL_STEM}{model_suffix}", lambda f: f.write(model), binary=True)
        write_json(run_dir / METRICS, metrics)
        (run_dir / ERROR).unlink(missing_ok=True)
        shutil.rmtree(self.checkpoint_dir(run_id), ignore_errors=True)

    def anytime(self, run_id: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{fraction: (test predictions, probabilities)} of a run's anytime checkpoints that are not its final
        one ({} for a run that kept none); a file that fails its checksum is an error naming it."""
        path = self.run_dir(run_id) / ANYTIME
        if not path.exists():
            return {}
        arrays = load_arrays(path)
        if arrays is None:
            raise StoreError(f"{path}: unreadable or fails its checksum; rerun the run with --overwrite")
        fractions = sorted({k.split(":", 1)[1] for k in arrays}, key=float)
        return {f: (arrays[f"predictions:{f}"], arrays[f"probabilities:{f}"]) for f in fractions}

    def write_failure(self, run_id: str, payload: dict) -> None:
        write_json(self.run_dir(run_id) / ERROR, payload)

    def metrics(self, run_id: str) -> dict | None:
        path = self.run_dir(run_id) / METRICS
        return json.loads(path.read_text()) if path.exists() else None

    def failure(self, run_id: str) -> dict | None:
        """A failed run's record (its error, model, resampler, seed, traceback); None when it has none."""
        path = self.run_dir(run_id) / ERROR
        return json.loads(path.read_text()) if path.exists() else None

    def error(self, run_id: str) -> str | None:
        failure = self.failure(run_id)
        return failure["error"] if failure else None

    def predictions(self, run_id: str) -> np.ndarray | None:
        path = self.run_dir(run_id) / PREDICTIONS
        return np.load(path) if path.exists() else None

    def write_probabilities(self, run_id: str, probabilities: np.ndarray) -> None:
        """A run's class probabilities of every test beat, (n, classes) as float16, compressed."""
        save_arrays(self.run_dir(run_id) / PROBABILITIES, {"probabilities": np.asarray(probabilities, np.float16)},
                    compressed=True, what="results directory", advice="--results-dir")

    def probabilities(self, run_id: str) -> np.ndarray | None:
        """(n, classes) float16 class probabilities of the test beats; None for a run that has none. A file
        that fails its checksum is an error naming it."""
        path = self.run_dir(run_id) / PROBABILITIES
        if not path.exists():
            return None
        arrays = load_arrays(path)
        if arrays is None:
            raise StoreError(f"{path}: corrupt (its checksum does not match); run `evaluate --on test` for this "
                             "grid to write it again from the saved model")
        return arrays["probabilities"]

    def model_path(self, run_id: str) -> Path | None:
        """The saved model of a run, whatever its format (``model.keras``, ``model.skops``, ...)."""
        found = sorted(self.run_dir(run_id).glob(f"{MODEL_STEM}.*"))
        return found[0] if found else None

    # ------------------------------------------------------------------ evaluations and report files

    def evaluation_path(self, test_set: str) -> Path:
        return self.path / EVALUATIONS / f"{test_set}.csv"

    def _about_path(self, test_set: str) -> Path:
        return self.path / EVALUATIONS / f"{test_set}.json"

    def write_evaluation_about(self, test_set: str, about: dict) -> None:
        """Where and by what an evaluation was computed (it may differ from where the runs trained)."""
        write_json(self._about_path(test_set), about)

    def evaluation_about(self, test_set: str) -> dict | None:
        path = self._about_path(test_set)
        return json.loads(path.read_text()) if path.exists() else None

    def write_evaluation(self, test_set: str, labels: np.ndarray, records: np.ndarray, samples: np.ndarray,
                         predictions: dict[str, np.ndarray], table_csv: str,
                         probabilities: dict[str, np.ndarray] | None = None) -> None:
        """Saved models scored on ``test_set``: its beats' identity, every run's predictions and (when given)
        its class probabilities as float16, in one compressed file (a database of 184,000 beats, mostly N,
        shrinks a hundredfold), the table last."""
        arrays = {"labels": np.asarray(labels, np.int8), "records": np.asarray(records).astype("U8"),
                  "samples": np.asarray(samples, np.int64),
                  **{_RUN_KEY + run_id: np.asarray(pred, np.int8) for run_id, pred in predictions.items()},
                  **{_PROBA_KEY + run_id: np.asarray(p, np.float16) for run_id, p in (probabilities or {}).items()}}
        save_arrays(self.path / EVALUATIONS / f"{test_set}.npz", arrays, compressed=True, what="results directory",
                    advice="--results-dir")
        atomic_write(self.evaluation_path(test_set), lambda f: f.write(table_csv))

    def evaluation(self, test_set: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]] | None:
        """(labels, records, samples, {run_id: predictions}) of an evaluation, or None if there is none."""
        whole = self.evaluation_with_probabilities(test_set)
        return None if whole is None else whole[:4]

    def evaluation_with_probabilities(self, test_set: str) -> tuple | None:
        """(labels, records, samples, {run_id: predictions}, {run_id: probabilities}) of an evaluation from one
        read of its file, or None if there is none."""
        path = self.path / EVALUATIONS / f"{test_set}.npz"
        if not self.evaluation_path(test_set).exists():
            return None
        arrays = load_arrays(path)
        if arrays is None:
            raise StoreError(f"{path}: missing or corrupt (its checksum does not match); run `evaluate --on "
                             f"{test_set}` again for this grid")
        predictions = {k[len(_RUN_KEY):]: v for k, v in sorted(arrays.items()) if k.startswith(_RUN_KEY)}
        probabilities = {k[len(_PROBA_KEY):]: v for k, v in sorted(arrays.items()) if k.startswith(_PROBA_KEY)}
        return arrays["labels"], arrays["records"], arrays["samples"], predictions, probabilities

    def file(self, name: str) -> Path:
        """A report file of this grid (``REPORT.md``, ``figures/x.png``, ...)."""
        return self.path / name


@dataclass(frozen=True)
class TransferStore(GridStore):
    """One target of a grid's transfer runs: its manifest (``transfer.json``), its test part and its runs, laid
    out as a grid's, so a run is written, skipped when done and retried when failed exactly as a grid's is."""

    manifest_name: ClassVar[str] = TRANSFER_MANIFEST
    missing: ClassVar[str] = "no transfer has been run to this target; run `python run_benchmark.py transfer` first"

    @property
    def target(self) -> str:
        return self.path.name

    @property
    def grid(self) -> GridStore:
        return GridStore(self.path.parent.parent)


class RunStore:
    """A results root: ``<root>/<split>/<grid>/``."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def grid(self, split: str, grid: str) -> GridStore:
        return GridStore(self.root / split / grid)

    def grids(self, split: str | None = None) -> list[GridStore]:
        """Every grid with a manifest, by split then name."""
        pattern = f"{split}/*/{MANIFEST}" if split else f"*/*/{MANIFEST}"
        return [GridStore(p.parent) for p in sorted(self.root.glob(pattern))]

    def overview_path(self) -> Path:
        return self.root / "README.md"

    def overview_figure(self, name: str) -> Path:
        """A figure of the overview, which spans grids: ``<root>/figures/<name>.png``."""
        return self.root / "figures" / f"{name}.png"

    def study(self, split: str, name: str) -> "StudyStore":
        return StudyStore(self.root / split / TUNING / name)


TUNING = "tuning"  # a split's folder of tuning studies (no grid has this name: it holds no manifest)


@dataclass(frozen=True)
class StudyStore:
    """One tuning study's folder: its SQLite study, its lock, and what ``tune`` writes of it."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def database(self) -> Path:
        return self.path / "study.sqlite3"

    @property
    def lock(self) -> Path:
        return self.path / "study.lock"

    @property
    def storage_url(self) -> str:
        return f"sqlite:///{self.database.resolve()}"

    @property
    def results_root(self) -> Path:
        """The results folder the study lies in (``<root>/<split>/tuning/<study>``): where the grids that
        take its settings are."""
        return self.path.parent.parent.parent

    def file(self, name: str) -> Path:
        """A file the study's report writes (``TUNING.md``, ``trials.csv``, ``figures/history.png``, ...)."""
        return self.path / name


# ---------------------------------------------------------------------- the resampled-part cache

@dataclass
class Resampled:
    """A treated training part, shaped (n, length, 1), its loss weights (or None), and the seconds its
    treatment took."""

    x: np.ndarray
    y: np.ndarray
    seconds: float
    cached: bool = False
    weights: np.ndarray | None = None

    def info(self, classes: tuple[str, ...] = AAMI_CLASSES) -> dict:
        """What a run records of its training part: class counts and the class prior it trained under."""
        from resampling import trained_prior

        counts = np.bincount(self.y, minlength=len(classes)).tolist()
        prior = trained_prior(self.y, self.weights, len(classes)).tolist()
        return {"seconds": self.seconds, "cached": self.cached, "train_class_counts": dict(zip(classes, counts)),
                "trained_prior": dict(zip(classes, prior)), "loss_weighted": self.weights is not None}


def save_part(path: Path, part: Resampled) -> None:
    """Write a treated part as a checksummed cache entry."""
    weights = {} if part.weights is None else {"weights": part.weights}
    save_arrays(path, {"x": part.x, "y": part.y, "seconds": np.array(part.seconds), **weights})


def load_part(path: Path) -> Resampled | None:
    """A cache entry written by :func:`save_part`; ``None`` when missing or corrupt."""
    arrays = load_arrays(path)
    if arrays is None:
        return None
    return Resampled(arrays["x"], arrays["y"], float(arrays["seconds"]), cached=True, weights=arrays.get("weights"))


class ResampleCache:
    """Resampled training parts on disk, one file per key (the key names everything that made it)."""

    def __init__(self, cache_dir: Path):
        self.dir = Path(cache_dir) / "resampled"

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.npz"

    def load(self, key: str) -> Resampled | None:
        return load_part(self.path(key))

    def save(self, key: str, part: Resampled) -> None:
        save_part(self.path(key), part)
