"""A grid written straight into the run store, without training: for tests of the report alone."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.metrics.evaluator import evaluate
from benchmark.store import RunStore
from benchmark.tasks import get_task

TRAIN = {"steps": 10, "batch_size": 4, "eval_every": 5, "patience": 2, "learning_rate": 0.001, "lr_decay": 0.9,
         "lr_decay_steps": 5}


def write_synthetic_grid(root: Path, task: str = "aami5", models=("mlp",), resamplers=("none", "random"),
                         seeds=(0,), failed=(), not_run=(), n_test: int = 200, split: str = "inter",
                         rng_seed: int = 0, collapse=None, name: str = "synthetic", subset=None):
    """A finished grid of ``task`` in ``root``: every (model, resampler, seed) run done with noisy but
    informative predictions and probabilities, except the cells in ``failed`` (an error.json) and
    ``not_run`` (nothing on disk); ``collapse``: a (model, resampler) cell that predicts class 0 for every
    beat; ``name``: the grid's (a preset's name makes it a preset's grid); ``subset``: the data subset its
    manifest names (the smoke grid's). Returns its GridStore."""
    t = get_task(task)
    rng = np.random.default_rng(rng_seed)
    store = RunStore(root).grid(split, name)
    prior = np.r_[0.6, np.full(t.n_classes - 1, 0.4 / (t.n_classes - 1))]  # class 0 (N, normal) the commonest
    y = rng.choice(t.n_classes, n_test, p=prior).astype(np.int8)
    records = np.array([f"{100 + i % 8}" for i in range(n_test)])
    store.write_test_part(y, records)
    counts = {c: int(n) for c, n in zip(t.classes, np.bincount(y, minlength=t.n_classes))}
    runs = []
    for model in models:
        for resampler in resamplers:
            for seed in seeds:
                run_id = f"{model}__{resampler}__seed{seed}__0123456789"
                runs.append(run_id)
                if (model, resampler) in not_run:
                    continue
                if (model, resampler) in failed:
                    store.write_failure(run_id, {"model": model, "resampler": resampler, "seed": seed,  # as the recorder
                                                 "error": f"{resampler} needs more beats"})
                    continue
                logits = np.eye(t.n_classes)[y] * 2 + rng.normal(0, 1, (n_test, t.n_classes))
                proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
                if (model, resampler) == collapse:
                    proba = np.tile(np.eye(t.n_classes)[0] * 0.9 + 0.1 / t.n_classes, (n_test, 1))
                pred = proba.argmax(axis=1).astype(np.int8)
                metrics = {"model": model, "resampler": resampler, "seed": seed,
                           "test": evaluate(y, pred, classes=t.classes), "best_val_macro_f1": 0.5,
                           "best_step": 5, "steps_trained": 10,
                           "resampling": {"train_class_counts": counts, "seconds": 0.1},
                           "seconds": {"train": 1.0, "inference": 0.1},
                           "history": [{"step": 5, "val_macro_f1": 0.5}, {"step": 10, "val_macro_f1": 0.4}],
                           "provenance": {"command": "synthetic", "commit": "abc"}}
                store.write_run(run_id, metrics, pred, None, probabilities=proba)
    store.write_manifest({
        "grid": name, "split": split, "models": list(models), "resamplers": list(resamplers),
        "seeds": list(seeds), "runs": runs, "train": TRAIN, "data": {"subset": subset},
        "class_counts": {"train": counts, "validation": counts, "test": counts}, "task": t.as_dict(),
        "train_records": ["101"], "validation_records": ["102"]})
    return store
