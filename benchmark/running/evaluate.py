"""Score saved models on a test set without training: ``python run_benchmark.py evaluate``.

Every finished run of a grid keeps its trained model (``model.keras``); this loads each one, predicts
the given beats and scores them through the same evaluator as training did. On the grid's own test
part it must reproduce the run's saved predictions exactly (same backend and hardware), which is how
the command checks a run store; other test sets reuse the same path.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from benchmark.data.beats import CLASSES
from benchmark.files import write_text
from benchmark.logs import progress
from benchmark.metrics.evaluator import evaluate
from benchmark.running.saving import load_model
from benchmark.store import GridStore

log = logging.getLogger(__name__)
PREDICT_BATCH = 2048  # as the trainer's


def predict_saved(store: GridStore, x: np.ndarray) -> dict[str, np.ndarray]:
    """{run_id: predicted class of every beat of ``x`` (n, length)} for every run of the grid with a model."""
    manifest = store.manifest()
    with_model = [r for r in manifest["runs"] if store.model_path(r) is not None]
    missing = len([r for r in manifest["runs"] if store.is_done(r)]) - len(with_model)
    if missing:
        log.warning("%s: %d finished run(s) have no saved model (trained before models were kept); skipped",
                    store.path, missing)
    predictions = {}
    for run_id in progress(with_model, desc="evaluating", unit="run"):
        model = load_model(store.model_path(run_id))
        predictions[run_id] = np.argmax(model.predict(x[..., None], batch_size=PREDICT_BATCH, verbose=0),
                                        axis=1).astype(np.int8)
    return predictions


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


def evaluate_grid(store: GridStore, x: np.ndarray, y: np.ndarray, test_set: str) -> pd.DataFrame:
    """Score every saved model of the grid on (x, y) and write ``evaluations/<test_set>.csv``."""
    table = score(store, predict_saved(store, x), y, test_set)
    write_text(store.evaluation_path(test_set), table.to_csv(index=False, float_format="%.6f"))
    return table
