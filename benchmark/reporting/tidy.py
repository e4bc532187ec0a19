"""The first step of reporting: one tidy row per finished run of a grid, its metrics recomputed.

Test metrics are recomputed from each run's saved predictions and the grid's test labels through
``benchmark.metrics.evaluator``, so a new metric needs no retraining, and a table never disagrees with
the predictions beside it. Validation scores, training history and times come from ``metrics.json``.
Classes come from the grid's task (``benchmark.tasks.task_of``); a task whose headline metrics go
beyond macro F1 (binary: sensitivity, specificity, AUROC) gets them from the predictions and the
stored class probabilities.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.metrics.collapse import collapse_reason
from benchmark.metrics.evaluator import binary_metrics, evaluate
from benchmark.store import GridStore
from benchmark.tasks import Task, task_of


def reported_macro(task: Task) -> str | None:
    """The column of macro F1 over the task's reported classes (aami5: ``macro_f1_nsvf``); None when they
    are all of its classes (it would be macro F1 itself)."""
    if tuple(task.reported) == task.classes:
        return None
    return "macro_f1_" + "".join(c.lower() for c in task.reported)


def extra_metrics(task: Task) -> list[str]:
    """The task's headline metrics beyond macro F1, each a column of the tidy table."""
    return [m for m in task.metrics if m != "macro_f1"]


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


def run_row(run_id: str, m: dict, task: Task, extra: dict | None = None, collapsed: str | None = None) -> dict:
    """One run's row; ``extra``: its values of :func:`extra_metrics`; ``collapsed``: why the run collapsed
    (``benchmark.metrics.collapse``), or None."""
    t, classes, macro = m["test"], task.classes, reported_macro(task)
    return {
        "model": m["model"], "resampler": m["resampler"], "seed": m["seed"],
        "macro_f1": t["macro_f1"], "accuracy": t["accuracy"], "balanced_accuracy": t["balanced_accuracy"],
        **{f"recall_{c}": t["recall"][c] for c in classes},
        **{f"precision_{c}": t["precision"][c] for c in classes},
        **{f"f1_{c}": t["f1"][c] for c in classes},
        **({macro: float(np.mean([t["f1"][c] for c in task.reported]))} if macro else {}),
        "best_val_macro_f1": m["best_val_macro_f1"], "best_step": m["best_step"],
        "steps_trained": m["steps_trained"], "train_size": sum(m["resampling"]["train_class_counts"].values()),
        "resample_seconds": m["resampling"]["seconds"], "train_seconds": m["seconds"]["train"],
        "inference_seconds": m["seconds"]["inference"],
        **{k: (np.nan if v is None else v) for k, v in (extra or {}).items()},
        "collapsed": collapsed is not None, "collapse_reason": collapsed or "", "run_id": run_id,
    }


def load_grid(store: GridStore) -> TidyGrid:
    manifest = store.manifest()
    task = task_of(manifest)
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
            m = {**m, "test": evaluate(y_true, pred, classes=task.classes)}
        extra = None
        if extra_metrics(task):
            values = binary_metrics(y_true, store.probabilities(run_id), pred) \
                if pred is not None and task.n_classes == 2 else {}  # the only extra metrics so far: binary ones
            extra = {k: values.get(k) for k in extra_metrics(task)}
        metrics[run_id] = m
        collapsed = collapse_reason(m, pred, task.classes, manifest.get("class_counts", {}).get("validation"))
        rows.append(run_row(run_id, m, task, extra, collapsed))
    return TidyGrid(manifest, pd.DataFrame(rows), errors, failed, metrics, predictions, y_true, store.test_records())
