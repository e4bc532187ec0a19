"""Score saved models on a test set without training: ``python run_benchmark.py evaluate``.

Every finished run of a grid keeps its trained model (``model.keras``, or ``model.skops`` for a
scikit-learn one); this loads each one through its estimator, predicts the given beats and scores them
through the same evaluator as training did. On the grid's own test part (``test``) it must reproduce the
run's saved predictions exactly (same backend and hardware), which is how the command checks a run store;
a run that has no stored class probabilities (trained before they were kept) gets them here, and the
evaluation says where they were computed. On ``svdb`` (another database, other patients) and ``nstdb``
(noise-stress records) every run's predictions and probabilities are saved with the beats' identity, for
the report's record-level tests and noise curves. Every evaluation is one checksummed ``.npz``.

Prior correction (Saerens et al. 2002) is a pure function of the store: each run's stored test
probabilities and the class prior it trained under.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from benchmark.logs import progress
from benchmark.metrics.evaluator import evaluate
from benchmark.metrics.priors import prior_corrected, training_prior
from benchmark.store import PRIOR_CORRECTED, GridStore
from benchmark.tasks import task_of

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
    from benchmark.estimators import load_estimator

    n_classes = task_of(manifest).n_classes
    probabilities = {}
    for run_id in progress(with_model, desc="evaluating", unit="run"):
        estimator = load_estimator(store.metrics(run_id)["model"], store.model_path(run_id), n_classes)
        probabilities[run_id] = estimator.predict_proba(x)
    return probabilities


def labels_of(probabilities: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {run_id: np.argmax(p, axis=1).astype(np.int8) for run_id, p in probabilities.items()}


def score(store: GridStore, predictions: dict[str, np.ndarray], y: np.ndarray, test_set: str) -> pd.DataFrame:
    """One row per run: macro F1, per-class recall and precision on ``test_set``; for the grid's own
    test part, also whether the predictions and macro F1 equal the saved ones."""
    classes = task_of(store.manifest()).classes
    rows = []
    for run_id, pred in predictions.items():
        m = store.metrics(run_id)
        t = evaluate(y, pred, classes=classes)
        row = {"run_id": run_id, "model": m["model"], "resampler": m["resampler"], "seed": m["seed"],
               "test_set": test_set, "macro_f1": t["macro_f1"],
               **{f"recall_{c}": t["recall"][c] for c in classes},
               **{f"precision_{c}": t["precision"][c] for c in classes}}
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
    written, kept = [test_set], {}
    if test_set == "test":
        for run_id, p in probabilities.items():
            stored = store.probabilities(run_id)
            if stored is None:  # a run trained before probabilities were kept
                store.write_probabilities(run_id, p)
                kept[run_id] = "kept with the run"
            elif not np.array_equal(stored, p.astype(np.float16)):
                kept[run_id] = "differ from the run's own (another machine or backend)"
        if kept and about is not None:
            about = {**about, "probabilities": kept}
        if kept:
            log.info("%d run(s) had no stored test probabilities, or other ones than these; see the evaluation's "
                     "record", len(kept))
    # the test part's evaluation holds only the probabilities that are not already the runs' own
    own = {r: p for r, p in probabilities.items() if test_set != "test" or kept.get(r, "").startswith("differ")}
    earlier = read_evaluation(store, test_set) if store.evaluation_path(test_set).exists() else None
    carried = _scored_elsewhere(store, earlier, beats, predictions)
    if carried:  # runs scored before whose models are not here (another machine's piece): kept, not lost
        log.info("%s: %d run(s) scored earlier on %s have no saved model here; their scores are kept",
                 store.path, len(carried), test_set)
        table = merge_evaluation(store, test_set, beats.y, beats.record, beats.sample, predictions, own, about,
                                 earlier=earlier, only=carried)
    else:
        store.write_evaluation(test_set, beats.y, beats.record, beats.sample, predictions,
                               table.to_csv(index=False, float_format="%.6f"), own)
        if about is not None:
            store.write_evaluation_about(test_set, about)
    if test_set == "test" and write_prior_corrected(store, beats):
        written.append(PRIOR_CORRECTED)
    for name in written[1:] if about is not None else []:
        store.write_evaluation_about(name, about)
    return table


def _scored_elsewhere(store: GridStore, earlier, beats, predictions: dict) -> list[str]:
    """Runs of the grid that an earlier evaluation of the same beats scored and this one could not (no saved
    model here)."""
    if earlier is None or not same_beats(earlier, (beats.y, beats.record, beats.sample)):
        return []
    runs = set(store.manifest()["runs"])
    return [r for r in earlier[3] if r in runs and r not in predictions and store.model_path(r) is None]


def same_beats(a: tuple, b: tuple) -> bool:
    """Whether two evaluations (or an evaluation and a beat set), each led by (labels, records, samples),
    scored the same beats in the same order."""
    return all(np.array_equal(x, y) for x, y in zip(a[:3], b[:3]))


def read_evaluation(store: GridStore, test_set: str) -> tuple:
    """(labels, records, samples, {run_id: predictions}, {run_id: probabilities}, about) of an evaluation."""
    return (*store.evaluation_with_probabilities(test_set), store.evaluation_about(test_set))


def _pieces(about: dict | None, runs) -> list[dict]:
    """Who scored which runs: an evaluation's record as a list of pieces, each with its runs."""
    if not about:
        return [{"runs": sorted(runs)}]
    if "pieces" in about:
        return list(about["pieces"])
    return [{**about, "runs": sorted(runs)}]


def merge_evaluation(store: GridStore, test_set: str, labels, records, samples, predictions: dict,
                     probabilities: dict, about: dict | None, earlier: tuple | None = None,
                     only: list[str] | None = None) -> pd.DataFrame:
    """Write ``test_set``'s evaluation as the earlier one of the same beats (``earlier``: read here when not
    given; ``only``: the earlier runs to keep, default all) with these runs' predictions and probabilities
    added or replaced; the record of who scored it keeps one entry per piece with the runs it scored."""
    if earlier is None and store.evaluation_path(test_set).exists():
        earlier = read_evaluation(store, test_set)
    kept_predictions, kept_probabilities, kept_about = ({}, {}, None) if earlier is None else earlier[3:6]
    keep = set(kept_predictions if only is None else only) - set(predictions)
    merged = {r: kept_predictions[r] for r in sorted(keep)} | predictions
    merged_probabilities = {r: p for r, p in kept_probabilities.items() if r in keep} | probabilities
    table = score(store, merged, labels, test_set)
    store.write_evaluation(test_set, labels, records, samples, merged, table.to_csv(index=False, float_format="%.6f"),
                           merged_probabilities)
    pieces = [{**piece, "runs": sorted(set(piece["runs"]) & keep)} for piece in _pieces(kept_about, keep)]
    pieces += [{**piece, "runs": sorted(set(piece["runs"]) & set(predictions))} for piece in _pieces(about, predictions)]
    latest = {k: v for k, v in (about or {}).items() if k != "pieces"}
    store.write_evaluation_about(test_set, {**latest, "pieces": [p for p in pieces if p["runs"]]})
    return table


def write_prior_corrected(store: GridStore, beats) -> bool:
    """Every run trained under another class prior than the data's, its decisions moved back to the data's
    prior (the original training part's class frequencies), from its stored test probabilities; saved as
    an evaluation of the test part. True when there was such a run."""
    manifest = store.manifest()
    classes = task_of(manifest).classes
    counts = manifest["class_counts"]["train"]
    original = np.array([counts[c] for c in classes], dtype=float)
    original /= original.sum()
    corrected = {}
    for run_id in manifest["runs"]:
        p = store.probabilities(run_id) if store.is_done(run_id) else None
        if p is None:
            continue
        trained = training_prior(store.metrics(run_id), classes)
        if not np.allclose(trained, original, rtol=0, atol=1e-12):  # the same prior needs no correction
            corrected[run_id] = prior_corrected(p.astype(np.float32), trained, original)
    if corrected:
        table = score(store, corrected, beats.y, PRIOR_CORRECTED)
        store.write_evaluation(PRIOR_CORRECTED, beats.y, beats.record, beats.sample, corrected,
                               table.to_csv(index=False, float_format="%.6f"))
    return bool(corrected)
