"""TRANSFER.md's data model: one target's transfer runs read from the store, scored from their saved
predictions, and the record-level paired tests of fine-tuned against from-scratch runs. No training, no
target data: only the store.

Scores are recomputed from each run's test predictions and the target's stored test labels (and, for a
two-class task's AUROC, its stored probabilities). The headline macro F1 averages over the task's reported
classes with at least ``FEW_TEST_BEATS`` test beats, as the svdb section of REPORT.md does, so a class with a
handful of test beats does not decide it; the all-class macro F1 is kept beside it. Each source cell (model ×
resampler) is one family of tests: fine-tuned against from scratch at every fraction and target treatment, a
paired bootstrap over the target's test records (patients; beats for a target split by beat), Holm-adjusted
within the family, with ``decide``'s verdicts that no bootstrap draw changes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.metrics.collapse import collapse_reason
from benchmark.metrics.comparisons import BOOT_SEED, PairedTest, decide
from benchmark.metrics.evaluator import binary_metrics
from benchmark.reporting.shifts import kept_classes, macro
from benchmark.store import TransferStore
from benchmark.tasks import Task, get_task

NO_TREATMENT = "-"  # a zero-shot cell's treatment: it trains on nothing


@dataclass
class TransferResults:
    """One target's transfer runs, scored (module docstring)."""

    store: TransferStore
    manifest: dict
    task: Task
    y: np.ndarray
    groups: np.ndarray | None  # the record (patient) of every test beat; None: split by beat
    kept: list[int]  # the classes the headline macro F1 averages over
    rows: pd.DataFrame  # one row per cell with a result
    failed: dict[str, str]  # run_id -> why it failed
    missing: list[str]  # cells with no result yet (not run, or failed)
    tests: pd.DataFrame  # fine-tuned against from scratch, one row per source cell, treatment and fraction
    metrics: dict[str, dict]  # run_id -> metrics.json

    @property
    def fractions(self) -> list[float]:
        return sorted({f for f in self.rows.fraction.dropna()}) if len(self.rows) else []

    @property
    def cells(self) -> list[tuple[str, str]]:
        """The source cells (model, resampler), in the order they were planned."""
        return list(dict.fromkeys(zip(self.rows.model, self.rows.resampler))) if len(self.rows) else []


def scored_classes(y: np.ndarray, task: Task) -> list[int]:
    """The classes the headline macro F1 averages over: the reported ones with enough test beats, else the
    reported ones the test part has at all (a tiny target)."""
    counts = np.bincount(y, minlength=task.n_classes)
    return kept_classes(y, task) or [i for i, c in enumerate(task.classes) if c in task.reported and counts[i]]


def read_transfer(store: TransferStore, boot_seed: int = BOOT_SEED) -> TransferResults:
    manifest = store.manifest()
    task = get_task(manifest["task"]["name"])
    y = store.test_labels()
    groups = store.test_records() if manifest["unit"] == "record" else None
    kept = scored_classes(y, task)
    rows, failed, missing, metrics, predictions = [], {}, [], {}, {}
    validation_counts = manifest["parts"]["validation"]["class_counts"]
    for key, run_id in manifest["cells"].items():
        about = manifest["cell_info"][key]
        m = store.metrics(run_id)
        pred = store.predictions(run_id) if m is not None else None
        if m is None or pred is None:
            missing.append(key)
            error = store.error(run_id)
            if error:
                failed[run_id] = error
            continue
        if len(pred) != len(y):
            raise ValueError(f"{store.run_dir(run_id)}: {len(pred)} predictions for {len(y)} test beats")
        metrics[run_id], predictions[run_id] = m, pred
        rows.append({**about, "treatment": about["treatment"] or NO_TREATMENT, "run_id": run_id,
                     "macro_f1": macro(y, pred, kept, task.n_classes),
                     "macro_f1_all": macro(y, pred, range(task.n_classes), task.n_classes),
                     **_binary(store, run_id, y, pred, task), "steps_trained": m.get("steps_trained"),
                     "best_step": m.get("best_step"), "collapsed": _collapse(m, pred, task, validation_counts, about)})
    table = pd.DataFrame(rows)
    return TransferResults(store, manifest, task, y, groups, kept, table, failed, missing,
                           fine_tune_tests(table, predictions, y, groups, task, kept, boot_seed), metrics)


def _binary(store: TransferStore, run_id: str, y, pred, task: Task) -> dict:
    if task.n_classes != 2:
        return {}
    probabilities = store.probabilities(run_id)
    return binary_metrics(y, None if probabilities is None else probabilities.astype(np.float32), pred)


def _collapse(m: dict, pred, task: Task, validation_counts: dict, about: dict) -> str:
    """Why a run collapsed (one class for every test beat; a validation score never above the commonest
    class's), or "" (``benchmark.metrics.collapse``)."""
    trained = about["strategy"] != "zero_shot"
    record = {"best_val_macro_f1": m.get("best_val_macro_f1", 1.0), "resampler": about["treatment"] or "none",
              "seed": about["seed"], "resampling": m.get("resampling") or {
                  "train_class_counts": dict(zip(task.classes, [1] * task.n_classes))}}
    return collapse_reason(record, pred, task.classes, validation_counts if trained else None) or ""


def fine_tune_tests(rows: pd.DataFrame, predictions: dict, y, groups, task: Task, kept, boot_seed: int) -> pd.DataFrame:
    """Fine-tuned against from scratch at every fraction and treatment of each source cell (module docstring):
    one family per source cell, over the seeds both runs have."""
    if not len(rows):
        return pd.DataFrame()
    families = []
    for (model, resampler), cell in rows.groupby(["model", "resampler"], sort=False):
        tests = []
        for (treatment, fraction), arm in cell[cell.fraction.notna()].groupby(["treatment", "fraction"], sort=False):
            tuned = dict(zip(arm[arm.strategy == "fine_tune"].seed, arm[arm.strategy == "fine_tune"].run_id))
            scratch = dict(zip(arm[arm.strategy == "scratch"].seed, arm[arm.strategy == "scratch"].run_id))
            seeds = sorted(set(tuned) & set(scratch))
            if seeds:
                tests.append(PairedTest({"model": model, "resampler": resampler, "treatment": treatment,
                                         "fraction": fraction, "fine_tune": _mean(arm, "fine_tune", seeds),
                                         "scratch": _mean(arm, "scratch", seeds), "seeds": len(seeds)},
                                        y, [predictions[tuned[s]] for s in seeds],
                                        [predictions[scratch[s]] for s in seeds], groups, task.n_classes, tuple(kept)))
        if tests:
            families.append(decide(tests, boot_seed))
    return pd.concat(families, ignore_index=True) if families else pd.DataFrame()


def _mean(arm: pd.DataFrame, strategy: str, seeds) -> float:
    return float(arm[(arm.strategy == strategy) & arm.seed.isin(seeds)].macro_f1.mean())


def summary(results: TransferResults, metric: str = "macro_f1") -> pd.DataFrame:
    """Mean ``metric`` over seeds of every (model, resampler, strategy, treatment, fraction); zero-shot's at
    fraction NaN, treatment ``NO_TREATMENT``."""
    rows = results.rows
    if not len(rows):
        return pd.DataFrame()
    keys = ["model", "resampler", "strategy", "treatment", "fraction"]
    return rows.groupby(keys, sort=False, dropna=False)[metric].mean().reset_index()
