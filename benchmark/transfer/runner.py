"""Run a transfer: split the target, plan its runs, skip the finished ones, train the others one at a time in
this process, and write every outcome to the store (``<grid>/transfer/<target>/``, laid out as a grid's).

Fairness, as for a grid's runs: every trained run starts from a freshly built and compiled model (holding the
saved weights where its strategy says so), is seeded from the source run's seed, trains for the same step
budget on the target's fine-tuning part (treated once per fraction, treatment and seed, and shared by every
model), stops early on the target's validation part, and touches the target's test part once, at the end. A
failed run records its reason (``error.json``, retried next time) and the others go on.
"""
from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from benchmark.config import TrainConfig, config_hash
from benchmark.data.beats import BeatSet
from benchmark.data.inputs import inputs_of
from benchmark.data.splits import contents_key
from benchmark.errors import DataError
from benchmark.store import GridStore, TransferStore
from benchmark.transfer.config import TRAINED, TransferConfig, fraction_tag
from benchmark.transfer.plan import Selection, TransferRun, plan_runs, source_runs
from benchmark.transfer.split import TargetSplit, split_units
from benchmark.transfer.target import Target

log = logging.getLogger(__name__)


@dataclass
class TargetParts:
    """The target's beats on each side of its split, and the fine-tuning beats of each fraction."""

    split: TargetSplit
    validation: BeatSet
    test: BeatSet
    test_mask: np.ndarray
    fractions: dict[float, BeatSet]


@dataclass
class TransferOutcome:
    store: TransferStore
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # source run -> what was left out, and why


def target_folder(target: Target, config: TransferConfig) -> str:
    """The target's folder: its name for the default split, with a hash of the split settings otherwise (another
    split is another test part, and one folder holds one test part)."""
    default = TransferConfig().split_dict()
    return target.name if config.split_dict() == default else f"{target.name}-{config_hash(config.split_dict())}"


def target_parts(target: Target, config: TransferConfig) -> TargetParts:
    split = split_units(target.units, target.beats.y, target.task.n_classes, config.parts, config.split_seed,
                        target.unit)
    side = lambda units: np.isin(target.units, units)  # noqa: E731
    test_mask = side(split.test)
    return TargetParts(split, target.beats.take(side(split.validation)), target.beats.take(test_mask), test_mask,
                       {f: target.beats.take(side(split.fraction(f))) for f in config.fractions})


def describe_part(beats: BeatSet, units: int, classes, records=None) -> dict:
    """What the manifest and the report say of a part: its units (patients), beats and class counts."""
    counts = np.bincount(beats.y, minlength=len(classes)).tolist()
    return {"units": units, "beats": len(beats), "class_counts": dict(zip(classes, counts)),
            **({"records": list(records)} if records is not None else {})}


def run_transfer(grid: GridStore, target: Target, config: TransferConfig, selection: Selection = Selection(),
                 jit_compile: bool = False, provenance: dict | None = None, overwrite: bool = False) -> TransferOutcome:
    """Carry ``grid``'s saved models to ``target`` (module docstring); returns what happened."""
    manifest = grid.manifest()
    task, features = target.task, inputs_of(manifest).n_features
    parts = target_parts(target, config)
    store = grid.transfer(target_folder(target, config))
    store.write_test_part(parts.test.y, target.test_records(parts.test_mask))  # refuses another test part
    sources, skipped = source_runs(grid, selection)
    for run_id, reason in skipped.items():
        log.warning("  source %s left out: %s", run_id, reason)
    if not sources:
        raise DataError(f"{grid.path}: no finished run with a saved model matches the chosen models, resamplers "
                        "and seeds; run the grid first, or choose others")
    grid_train = TrainConfig(**manifest["train"])
    train_configs = {s: config.train_config(grid_train, s) for s in TRAINED}
    data_keys = {None: contents_key([parts.test], task.name),
                 **{f: contents_key([part, parts.validation, parts.test], task.name)
                    for f, part in parts.fractions.items()}}
    identity = {"name": target.name, "unit": target.unit, "split": config.split_dict(),
                "inputs": inputs_of(manifest).as_dict()}
    runs, cells, notes = plan_runs(sources, target.name, task, config, train_configs, data_keys, identity)
    _write_manifest(store, grid, target, parts, cells, notes, skipped, config, train_configs, provenance or {})
    outcome = TransferOutcome(store, notes=notes)
    pending = [r for r in runs if overwrite or not store.is_done(r.run_id)]
    outcome.skipped = [r.run_id for r in runs if not overwrite and store.is_done(r.run_id)]
    log.info("transfer of %s to %s: %d runs, %d already done, %d to run; results in %s", grid.path, target.name,
             len(runs), len(outcome.skipped), len(pending), store.path)
    held_out = (parts.validation.x[..., None], parts.validation.y)
    test = (parts.test.x[..., None], parts.test.y)
    treated: dict = {}
    start = time.perf_counter()
    for i, run in enumerate(pending, 1):
        elapsed = time.perf_counter() - start
        eta = f", ETA {elapsed / (i - 1) * (len(pending) - i + 1) / 60:.0f} min" if i > 1 else ""
        log.info("[transfer %d/%d] %s (elapsed %.0f min%s)", i, len(pending), run.run_id, elapsed / 60, eta)
        try:
            part = None
            if run.strategy != "zero_shot":
                part = _treated_part(treated, parts.fractions[run.fraction], run.fraction, run.treatment, run.seed,
                                     features)
            result = _compute(run, part, held_out, test, train_configs, task, features, jit_compile)
        except Exception as exc:  # a failed run is recorded, and the others go on
            reason = f"{type(exc).__name__}: {exc}"
            outcome.failed[run.run_id] = reason
            log.warning("  FAILED %s: %s", run.run_id, reason)
            store.write_failure(run.run_id, {**_about(run, target, store), "error": reason,
                                             "traceback": traceback.format_exc(limit=5)})
            continue
        _record(store, run, target, parts, part, result, provenance or {})
        outcome.done.append(run.run_id)
        t = result["test"]
        log.info("  test macro F1 %.4f; recall %s", t["macro_f1"], " ".join(f"{c} {t['recall'][c]:.2f}"
                                                                             for c in task.classes))
    return outcome


def _treated_part(cache: dict, part: BeatSet, fraction: float, treatment: str, seed: int, features: int = 0):
    """The fraction's fine-tuning part under ``treatment``, computed once and kept while runs share it."""
    from benchmark.running.executors import resample_training_part

    key = (fraction, treatment, seed)
    if key not in cache:
        cache.clear()  # one treated part in memory at a time: runs are planned in that order
        try:
            cache[key] = resample_training_part(part.x[..., None], part.y, treatment, seed, features)
        except Exception as exc:  # every run of this part fails with the treatment's reason
            cache[key] = exc
    if isinstance(cache[key], Exception):
        raise cache[key]
    return cache[key]


def _compute(run: TransferRun, part, held_out, test, train_configs, task, features, jit_compile) -> dict:
    from benchmark.transfer import strategies

    if run.strategy == "zero_shot":
        return strategies.zero_shot(run.source, test[0], test[1], task)
    cfg = train_configs[run.strategy]
    if run.strategy == "scratch":
        return strategies.train_scratch(run.model, part, held_out, test, cfg, run.seed, task, features, jit_compile)
    return strategies.train_from_source(run.strategy, run.source, part, held_out, test, cfg, run.seed, task, features,
                                        jit_compile)


def _about(run: TransferRun, target: Target, store: TransferStore) -> dict:
    return {"run_id": run.run_id, "strategy": run.strategy, "model": run.model, "seed": run.seed,
            "fraction": run.fraction, "treatment": run.treatment,
            "source_run": run.source.run_id if run.source else None, "cells": list(run.cells),
            "target": target.name, "folder": store.target}


def _record(store: TransferStore, run: TransferRun, target: Target, parts: TargetParts, part, result: dict,
            provenance: dict) -> None:
    classes = target.task.classes
    predictions = result.pop("test_predictions")
    probabilities = result.pop("test_probabilities", None)
    model, suffix = result.pop("model", None), result.pop("model_suffix", ".keras")
    trained = {}
    if run.fraction is not None:
        fraction = parts.fractions[run.fraction]
        trained = {"fine_tune_part": describe_part(fraction, len(parts.split.fraction(run.fraction)), classes),
                   "resampling": part.info(classes)}
    store.write_run(run.run_id, {
        **_about(run, target, store), "config": run.run_id.rsplit("__", 1)[-1], "identity": run.identity,
        "task": target.task.name, **trained, **result, "provenance": provenance,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }, predictions, model, probabilities, suffix)


def _write_manifest(store: TransferStore, grid: GridStore, target: Target, parts: TargetParts, planned: dict,
                    notes, skipped, config: TransferConfig, train_configs: dict, provenance: dict) -> None:
    """The target's manifest: its split, its fractions, and the run of every cell (``planned``: {cell key:
    (run id, what the cell is)}), added to those already there (a cell whose identity changed points at its new
    run; the old one is kept, listed as superseded)."""
    old = store.manifest() if store.exists() else {}
    classes = target.task.classes
    cells, info = dict(old.get("cells", {})), dict(old.get("cell_info", {}))
    superseded = list(old.get("superseded", []))
    for key, (run_id, about) in planned.items():
        if cells.get(key, run_id) != run_id:
            superseded.append(cells[key])
        cells[key], info[key] = run_id, about
    records = target.unit == "record"
    split = parts.split
    sides = {"fine_tune": target.beats.take(np.isin(target.units, split.fine_tune)), "validation": parts.validation,
             "test": parts.test}
    store.write_manifest({
        "target": target.name, "folder": store.target, "description": target.description, "source": target.source,
        "unit": target.unit, "task": target.task.as_dict(), "grid": grid.manifest().get("grid"),
        "grid_directory": grid.name, "split": config.split_dict(),
        "parts": {name: describe_part(beats, len(split.sides()[name]), classes,
                                      split.sides()[name] if records else None) for name, beats in sides.items()},
        "fractions": {**old.get("fractions", {}),
                      **{fraction_tag(f): {"fraction": f, **describe_part(p, len(split.fraction(f)), classes)}
                         for f, p in parts.fractions.items()}},
        "cells": cells, "cell_info": info,
        "superseded": sorted(set(superseded) - set(cells.values())),
        "notes": {**old.get("notes", {}), **notes}, "skipped_sources": skipped,
        "config": config.as_dict(), "budget": {s: c.as_dict() for s, c in train_configs.items()},
        "provenance": provenance,
    })
