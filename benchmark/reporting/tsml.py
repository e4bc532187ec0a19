"""Every run's test predictions and class probabilities in tsml-eval's results-file format, so a peer harness
(tsml-eval's ``load_classifier_results``, its multi-estimator evaluation) reads the benchmark's runs as its
own: ``<out>/<model>__<treatment>/Predictions/MITBIH-<split>/testResample<seed>.csv``.

The format (tsml-eval ``write_classification_results``): line 1 the data set, estimator, ``TEST``, the seed,
the time unit and a comment (the grid and run); line 2 free text (the run's identity); line 3 accuracy, fit
and predict times, benchmark time, memory, the number of classes, then three train-estimate fields; from line
4 one test beat a line: true class, predicted class, an empty field, the class probabilities. Probabilities
are stored as float16 and renormalised here to sum to 1 as tsml-eval checks. Written on demand (``report
--tsml DIR``), never under ``results/``: a grid's files are tens of MB of text.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

DATASET = "MITBIH-{split}"


def estimator_name(model: str, resampler: str) -> str:
    """A folder- and CSV-safe estimator name (a treatment's parameters hold commas and brackets)."""
    name = f"{model}__{resampler}"
    return name.replace("[", "(").replace("]", ")").replace(",", ";").replace("/", "-")


def write_run(path: Path, *, split: str, estimator: str, seed: int, comment: str, parameters: str,
              labels: np.ndarray, predictions: np.ndarray, probabilities: np.ndarray, fit_seconds: float,
              predict_seconds: float) -> Path:
    probabilities = np.asarray(probabilities, np.float64)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)
    labels, predictions = np.asarray(labels, int), np.asarray(predictions, int)
    accuracy = float(np.mean(labels == predictions))
    n_classes = probabilities.shape[1]
    lines = [f"{DATASET.format(split=split)},{estimator},TEST,{seed},MILLISECONDS,{comment.replace(chr(10), ' ')}",
             parameters.replace("\n", " "),
             f"{accuracy!r},{round(fit_seconds * 1000)},{round(predict_seconds * 1000)},-1,-1,{n_classes},,-1,-1"]
    body = [f"{y},{p},," + ",".join(repr(float(v)) for v in row)
            for y, p, row in zip(labels.tolist(), predictions.tolist(), probabilities)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines + body) + "\n")
    return path


def write_grid(grid, out: Path) -> tuple[list[Path], list[str]]:
    """Every finished run of ``grid`` (a SavedGrid) with stored probabilities, as one tsml-eval results file;
    returns the files and the run ids left out (no stored probabilities: ``evaluate --on test`` writes them)."""
    written, missing = [], []
    for _, run in grid.runs.iterrows():
        probabilities = grid.store.probabilities(run.run_id)
        predictions = grid.predictions.get(run.run_id)
        if probabilities is None or predictions is None:
            missing.append(run.run_id)
            continue
        estimator = estimator_name(run.model, run.resampler)
        path = (out / estimator / "Predictions" / DATASET.format(split=grid.split)
                / f"testResample{int(run.seed)}.csv")
        metrics = grid.metrics.get(run.run_id) or {}
        commit = metrics.get("provenance", {}).get("commit", "?")
        written.append(write_run(
            path, split=grid.split, estimator=estimator, seed=int(run.seed),
            comment=f"ecg-oversampling-bench grid {grid.store.name} run {run.run_id}",
            parameters=f"run {run.run_id}; trained at commit {commit}; classes {' '.join(grid.task.classes)}",
            labels=grid.y_true, predictions=predictions, probabilities=probabilities,
            fit_seconds=float(run.train_seconds), predict_seconds=float(run.inference_seconds)))
    return written, missing
