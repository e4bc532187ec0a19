"""Run a grid: plan its runs, skip the finished ones, let an executor do the rest, record every outcome.

Results go to the run store (``benchmark.store``) under ``<results>/<split>/<grid directory>/``. A run's
``metrics.json`` marks it done, so a rerun skips it (``overwrite`` forces it); a failed run records its
reason and is retried next time. The grid's manifest accumulates: running some of its models or seeds
adds their cells to those already there, and a cell whose identity changed (new code, new settings)
points at its new run while the old run stays on disk, listed as superseded.

The driver (this process) plans the grid and writes every result; an executor
(``benchmark.running.executors``) does the work of each run: in process, one at a time (the default),
as Ray tasks, or packed on a GPU. Either way resampled training parts are cached on disk, and the run
store is the same, so a grid started by one executor is resumed by another.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from benchmark.config import Grid
from benchmark.data.records import default_cache_dir
from benchmark.data.splits import Split
from benchmark.logs import clock
from benchmark.running.executors import LocalExecutor, PackedExecutor, RayExecutor
from benchmark.running.plan import GridData, RunSpec, grid_directory, prepare_data, run_specs
from benchmark.running.pool import Job, PoolExecutor
from benchmark.running.recorder import GridOutcome, RunRecorder
from benchmark.store import GridStore, ResampleCache, RunStore

log = logging.getLogger(__name__)


def _ordered_union(old: list, new) -> list:
    return list(dict.fromkeys([*old, *new]))


def _cells(manifest: dict) -> dict[str, str]:
    """{"model/resampler/seed": run_id}; read from the run IDs of a manifest written before cells were kept."""
    if "cells" in manifest:
        return dict(manifest["cells"])
    cells = {}
    for run_id in manifest.get("runs", []):
        model, resampler, seed, _ = run_id.split("__")
        cells[f"{model}/{resampler}/{seed.removeprefix('seed')}"] = run_id
    return cells


def update_manifest(store: GridStore, grid: Grid, data: GridData, specs: list[RunSpec], provenance: dict) -> dict:
    """The grid's manifest with these runs' cells added. Its test part never changes (the store refuses
    that); when its training or validation part has, the data key says so and every cell gets a new run."""
    old = store.manifest() if store.exists() else {}
    previous_keys = list(old.get("previous_data_keys", []))
    if old and old.get("data_key") != data.key:  # the test part is the same (write_test_part checked it)
        log.warning("%s: the training or validation part changed since its runs were made (data key %s, now %s); "
                    "its cells are trained again and the old runs are kept as superseded", store.path,
                    old.get("data_key"), data.key)
        previous_keys.append(old.get("data_key"))
    cells, superseded = _cells(old), list(old.get("superseded", []))
    for spec in specs:
        previous = cells.get(spec.cell)
        if previous and previous != spec.run_id and previous not in superseded:
            superseded.append(previous)
        cells[spec.cell] = spec.run_id
    models = _ordered_union(old.get("models", []), grid.models)
    resamplers = _ordered_union(old.get("resamplers", []), grid.resamplers)
    seeds = _ordered_union(old.get("seeds", []), grid.seeds)
    runs = [cells[c] for r in resamplers for s in seeds for m in models if (c := f"{m}/{r}/{s}") in cells]
    manifest = {
        "grid": grid.name, "directory": store.name, "split": grid.data.split,
        "models": models, "resamplers": resamplers, "seeds": seeds,
        "train": grid.train.as_dict(), "data": grid.data.as_dict(), "data_key": data.key, "data_source": data.source,
        "task": data.task.as_dict(),
        "class_counts": {name: dict(zip(data.task.classes,
                                        np.bincount(part.y, minlength=data.task.n_classes).tolist()))
                         for name, part in (("train", data.train), ("validation", data.val), ("test", data.test))},
        "train_records": sorted(set(data.train.record.tolist())),
        "validation_records": sorted(set(data.val.record.tolist())),
        "cells": cells, "runs": runs, "superseded": superseded, "previous_data_keys": previous_keys,
        "provenance": provenance,
    }
    if grid.params:  # the tuned settings the grid's runs were given (--params)
        manifest["params"] = grid.params.as_dict()
    store.write_manifest(manifest)
    return manifest


def run_grid(grid: Grid, split: Split, results_dir: Path, cache_dir: Path | None = None,
             overwrite: bool = False, provenance: dict | None = None, verbose: bool = False,
             executor: LocalExecutor | RayExecutor | PackedExecutor | PoolExecutor | None = None,
             deadline: float | None = None) -> GridOutcome:
    """Train and evaluate every cell of ``grid`` not already done; returns what happened.

    ``executor``: None (a :class:`LocalExecutor`) trains in this process, with its own thread settings
    (the CLI sets them from ``--threads`` before TensorFlow starts); a :class:`RayExecutor` runs the
    cells as Ray tasks; a :class:`PackedExecutor` trains the runs of each model together on JAX; a
    :class:`PoolExecutor` runs them side by side, one per core. ``deadline`` (a ``time.time()``): no run starts
    after it, and a run in progress stops at its next check, its checkpoint kept for a rerun to resume.
    """
    return run_grids(grid, {grid.data.split: split}, results_dir, cache_dir, overwrite, provenance, verbose,
                     executor, deadline)[grid.data.split]


@dataclass
class _Planned:
    grid: Grid
    data: GridData
    pending: list[RunSpec]
    recorder: RunRecorder


def _plan(grid: Grid, split: Split, results_dir: Path, overwrite: bool, provenance: dict,
          deadline: float | None) -> _Planned:
    data = prepare_data(split, grid)
    specs, identities = run_specs(grid, data)
    store = RunStore(results_dir).grid(grid.data.split, grid_directory(grid))
    store.write_test_part(data.test.y, data.test.record)  # before the manifest: a refused test part writes nothing
    update_manifest(store, grid, data, specs, provenance)
    pending = [s for s in specs if overwrite or not store.is_done(s.run_id)]
    recorder = RunRecorder(grid, data, store, identities, len(pending), provenance, deadline)
    recorder.outcome.skipped = [s.run_id for s in specs if s not in pending]
    log.info("grid %s on the %s split: %d runs, %d already done, %d to run; results in %s", grid.name,
             grid.data.split, len(specs), len(recorder.outcome.skipped), len(pending), store.path)
    return _Planned(grid, data, pending, recorder)


def run_grids(grid: Grid, splits: dict[str, Split], results_dir: Path, cache_dir: Path | None = None,
              overwrite: bool = False, provenance: dict | None = None, verbose: bool = False,
              executor: LocalExecutor | RayExecutor | PackedExecutor | PoolExecutor | None = None,
              deadline: float | None = None) -> dict[str, GridOutcome]:
    """:func:`run_grid` on each of ``splits`` ({name: split}), seed-major across them: seed 0 of every cell of
    every split, then seed 1, and so on, so that a grid stopped part-way is whole in fewer seeds on every
    split. Returns each split's outcome."""
    executor = executor or LocalExecutor()
    cache = ResampleCache(Path(cache_dir) if cache_dir else default_cache_dir())
    provenance = {**(provenance or {}), "executor": executor.describe()}
    planned = {name: _plan(replace(grid, data=replace(grid.data, split=name)), split, results_dir, overwrite,
                           provenance, deadline) for name, split in splits.items()}
    try:
        if isinstance(executor, PoolExecutor):  # one queue for every split: no core waits at a split's end
            executor.run_jobs([Job(spec, p.grid, p.data, p.recorder) for seed in grid.seeds
                               for p in planned.values() for spec in p.pending if spec.seed == seed], cache, verbose)
        elif isinstance(executor, LocalExecutor):  # one run at a time: seed by seed across the splits
            for seed in grid.seeds:
                for p in planned.values():
                    specs = [s for s in p.pending if s.seed == seed]
                    if any(q.recorder.outcome.stopped_by_time_limit for q in planned.values()):
                        p.recorder.not_started(specs)
                    elif specs:
                        executor.run(specs, p.data, p.grid, cache, p.recorder, verbose)
        else:  # Ray and packs take a split's runs at once (a pack holds every seed of a model), in seed-major order
            for p in planned.values():
                if p.pending:
                    executor.run(p.pending, p.data, p.grid, cache, p.recorder, verbose)
    finally:
        for p in planned.values():
            p.recorder.close()
    for name, p in planned.items():
        outcome = p.recorder.outcome
        log.info("grid %s on %s: %d trained, %d skipped, %d failed%s in %s", grid.name, name, len(outcome.done),
                 len(outcome.skipped), len(outcome.failed),
                 f", {len(outcome.interrupted) + len(outcome.not_started)} left by the time limit"
                 if outcome.stopped_by_time_limit else "", clock(p.recorder.elapsed()))
    return {name: p.recorder.outcome for name, p in planned.items()}
