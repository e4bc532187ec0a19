"""The first step of reporting: one tidy row per finished run of a grid, its metrics recomputed.

Test metrics are recomputed from each run's saved predictions and the grid's test labels through
``benchmark.metrics.evaluator``, so a new metric needs no retraining, and a table never disagrees with
the predictions beside it. Validation scores, training history and times come from ``metrics.json``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.data.beats import CLASSES
from benchmark.metrics.evaluator import evaluate
from benchmark.store import GridStore

LITERATURE_CLASSES = ("N", "S", "V", "F")  # what the inter-patient literature reports (de Chazal 2004 onwards)


@dataclass
class TidyGrid:
    manifest: dict
    runs: pd.DataFrame  # one row per finished run
    errors: dict[str, str]  # run_id -> why it has no result ("not run yet" unless it failed)
    failed: dict[str, str]  # the runs of ``errors`` that failed (they have an error.json), and why
    metrics: dict[str, dict]  # run_id -> metrics.json, its "test" recomputed from the predictions
    predictions: dict[str, np.ndarray]  # run_id -> predicted class of every test beat
    y_true: np.ndarray | None
    records: np.ndarray | None  # the record of every test beat (None for grids saved before it was kept)


def run_row(run_id: str, m: dict) -> dict:
    t = m["test"]
    return {
        "model": m["model"], "resampler": m["resampler"], "seed": m["seed"],
        "macro_f1": t["macro_f1"], "accuracy": t["accuracy"], "balanced_accuracy": t["balanced_accuracy"],
        **{f"recall_{c}": t["recall"][c] for c in CLASSES},
        **{f"precision_{c}": t["precision"][c] for c in CLASSES},
        **{f"f1_{c}": t["f1"][c] for c in CLASSES},
        "macro_f1_nsvf": float(np.mean([t["f1"][c] for c in LITERATURE_CLASSES])),
        "best_val_macro_f1": m["best_val_macro_f1"], "best_step": m["best_step"],
        "steps_trained": m["steps_trained"], "train_size": sum(m["resampling"]["train_class_counts"].values()),
        "resample_seconds": m["resampling"]["seconds"], "train_seconds": m["seconds"]["train"],
        "inference_seconds": m["seconds"]["inference"], "run_id": run_id,
    }


def load_grid(store: GridStore) -> TidyGrid:
    manifest = store.manifest()
    y_true = store.test_labels()
    rows, errors, failed, metrics, predictions = [], {}, {}, {}, {}
    for run_id in manifest["runs"]:
        m = store.metrics(run_id)
        if m is None:
            error = store.error(run_id)
            if error is not None:
                failed[run_id] = error
            errors[run_id] = error or "not run yet"
            continue
        pred = store.predictions(run_id)
        if pred is not None:
            if len(pred) != len(y_true):
                raise ValueError(f"{store.run_dir(run_id)}: {len(pred)} predictions for {len(y_true)} test beats")
            predictions[run_id] = pred
            m = {**m, "test": evaluate(y_true, pred)}
        metrics[run_id] = m
        rows.append(run_row(run_id, m))
    return TidyGrid(manifest, pd.DataFrame(rows), errors, failed, metrics, predictions, y_true, store.test_records())
