"""Score saved models on a test set without training: ``python run_benchmark.py evaluate``.

Every finished run of a grid keeps its trained model (``model.keras``); this loads each one, predicts
the given beats and scores them through the same evaluator as training did. On the grid's own test
part (``test``) it must reproduce the run's saved predictions exactly (same backend and hardware),
which is how the command checks a run store. On ``svdb`` (another database, other patients) and
``nstdb`` (noise-stress records) every run's predictions are saved with the beats' identity, for the
report's record-level tests and noise curves.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from benchmark.data.beats import CLASSES
from benchmark.files import write_text
from benchmark.logs import progress
from benchmark.metrics.evaluator import evaluate
from benchmark.running.saving import load_model, predict_probabilities
from benchmark.store import PRIOR_CORRECTED, GridStore

log = logging.getLogger(__name__)


def predict_saved(store: GridStore, x: np.ndarray) -> dict[str, np.ndarray]:
    """{run_id: class probabilities (n, classes) of every beat of ``x`` (n, length)} for every run of the
    grid with a saved model."""
    manifest = store.manifest()
    with_model = [r for r in manifest["runs"] if store.model_path(r) is not None]
    missing = len([r for r in manifest["runs"] if store.is_done(r)]) - len(with_model)
    if missing:
        log.warning("%s: %d finished run(s) have no saved model (trained before models were kept); skipped",
                    store.path, missing)
    probabilities = {}
    for run_id in progress(with_model, desc="evaluating", unit="run"):
        model = load_model(store.model_path(run_id))
        probabilities[run_id] = predict_probabilities(model, x)
    return probabilities


def labels_of(probabilities: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {run_id: np.argmax(p, axis=1).astype(np.int8) for run_id, p in probabilities.items()}


def training_prior(metrics: dict) -> np.ndarray | None:
    """The class prior a run was trained under, when it differs from the data's own: the resampled part's
    class frequencies, or uniform for class weighting (every class weighs the same in the loss); None for
    a run trained on the original part as it is."""
    from resampling import resampler_kind

    kind = resampler_kind(metrics["resampler"])
    if kind == "identity":
        return None
    counts = np.array([metrics["resampling"]["train_class_counts"][c] for c in CLASSES], dtype=float)
    if kind == "weighting":
        return (counts > 0) / (counts > 0).sum()
    return counts / counts.sum()


def prior_corrected(probabilities: np.ndarray, trained: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Predicted classes after moving the decision from the training prior back to the original one
    (Saerens et al. 2002): argmax of p(c | x) · π_original(c) / π_trained(c)."""
    ratio = np.divide(original, trained, out=np.zeros_like(original, dtype=float), where=trained > 0)
    return np.argmax(probabilities * ratio, axis=1).astype(np.int8)


def score(store: GridStore, predictions: dict[str, np.ndarray], y: np.ndarray, test_set: str) -> pd.DataFrame:
    """One row per run: macro F1, per-class recall and precision on ``test_set``; for the grid's own
    test part, also whether the predictions and macro F1 equal the saved ones."""
    rows = []
    for run_id, pred in predictions.items():
        m = store.metrics(run_id)
        t = evaluate(y, pred)
        row = {"run_id": run_id, "model": m["model"], "resampler": m["resampler"], "seed": m["seed"],
               "test_set": test_set, "macro_f1": t["macro_f1"],
               **{f"recall_{c}": t["recall"][c] for c in CLASSES},
               **{f"precision_{c}": t["precision"][c] for c in CLASSES}}
        if test_set == "test":
            saved = store.predictions(run_id)
            row["saved_macro_f1"] = m["test"]["macro_f1"]
            row["beats_differing"] = int(np.sum(saved != pred)) if saved is not None else -1
            row["reproduced"] = bool(saved is not None and row["beats_differing"] == 0
                                     and t["macro_f1"] == m["test"]["macro_f1"])
        rows.append(row)
    return pd.DataFrame(rows)


def check_fair(store: GridStore, test_set: str) -> None:
    """Refuse a test set whose patients trained the models, by its registry entry's fairness rule."""
    from benchmark.errors import DataError
    from benchmark.external import get_external, list_external

    reason = get_external(test_set).refused(store.manifest()) if test_set in list_external() else None
    if reason:
        raise DataError(f"{store.path}: {reason}")


def evaluate_grid(store: GridStore, beats, test_set: str, about: dict | None = None) -> pd.DataFrame:
    """Score every saved model of the grid on ``beats`` (a BeatSet), save the predictions with the beats'
    identity (other test sets than the grid's own) and write ``evaluations/<test_set>.csv``; ``about``
    (command, commit, machine, device) is saved beside each evaluation written.

    On the grid's own test part, also the prior correction of every run trained under another class prior
    than the data's (resampled, or class-weighted), saved as the ``test_prior_corrected`` evaluation."""
    check_fair(store, test_set)
    probabilities = predict_saved(store, beats.x)
    predictions = labels_of(probabilities)
    table = score(store, predictions, beats.y, test_set)
    csv = table.to_csv(index=False, float_format="%.6f")
    written = [test_set]
    if test_set != "test":
        store.write_evaluation(test_set, beats.y, beats.record, beats.sample, predictions, csv)
    else:
        write_text(store.evaluation_path(test_set), csv)
        if write_prior_corrected(store, beats, probabilities):
            written.append(PRIOR_CORRECTED)
    for name in written if about is not None else []:
        store.write_evaluation_about(name, about)
    return table


def write_prior_corrected(store: GridStore, beats, probabilities: dict[str, np.ndarray]) -> bool:
    """Every run trained under another class prior than the data's, its decisions moved back to the data's
    prior (the original training part's class frequencies), saved as an evaluation of the test part.
    True when there was such a run."""
    counts = store.manifest()["class_counts"]["train"]
    original = np.array([counts[c] for c in CLASSES], dtype=float)
    original /= original.sum()
    corrected = {}
    for run_id, p in probabilities.items():
        trained = training_prior(store.metrics(run_id))
        if trained is not None:
            corrected[run_id] = prior_corrected(p, trained, original)
    if corrected:
        table = score(store, corrected, beats.y, PRIOR_CORRECTED)
        store.write_evaluation(PRIOR_CORRECTED, beats.y, beats.record, beats.sample, corrected,
                               table.to_csv(index=False, float_format="%.6f"))
    return bool(corrected)
