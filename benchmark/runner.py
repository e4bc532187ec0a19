"""Run a grid: one directory per run, named by its identity; its metrics file marks it done.

Layout under ``<results>/<split>/``:
- ``runs/<model>__<resampler>__seed<k>__<hash>/metrics.json`` — written atomically when a run ends;
  its presence means "done", so a rerun skips it (``overwrite`` forces it);
- ``runs/.../test_predictions.npy`` — the predicted class of every test beat (for paired tests);
- ``runs/.../error.json`` — a failed run's reason; the grid goes on and the run is retried next time;
- ``test_labels.npy`` — the true class of every test beat, in the order of the predictions;
- ``test_records.npy`` — the record (patient) of every test beat, in the same order;
- ``grid.json`` — the last grid run here (its runs, settings and provenance), read by the report.

The driver (this process) plans the grid and writes every result; an executor (``benchmark.executors``)
does the work of each run: in process, one at a time (the default), or as Ray tasks. Either way
resampled training parts are cached on disk for later invocations, and the run store is the same, so a
grid started by one executor is resumed by the other.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from benchmark.beats import CLASSES, BeatSet
from benchmark.config import Grid, config_hash
from benchmark.data import SPLIT_SEED, Split, stratified_subset
from benchmark.executors import (LocalExecutor, PackedExecutor, RayExecutor, Resampled, load_part,
                                 resample_training_part, resampled_message, save_part)
from benchmark.records import default_cache_dir, stderr_log
from benchmark.storage import atomic_write, write_json

PREDICTIONS = "test_predictions.npy"  # int8 class per test beat, in test-part order
TEST_LABELS = "test_labels.npy"  # the true classes of the test part, once per split directory
TEST_RECORDS = "test_records.npy"  # the record (patient) of every test beat: the unit of the paired tests


@dataclass(frozen=True)
class RunSpec:
    split: str
    model: str
    resampler: str
    seed: int
    config: str  # hash of everything else that changes the result

    @property
    def run_id(self) -> str:
        return f"{self.model}__{self.resampler}__seed{self.seed}__{self.config}"


@dataclass
class GridData:
    """The parts a grid trains on: beats shaped (n, length, 1), and their identity."""

    train: BeatSet
    val: BeatSet
    test: BeatSet
    key: str
    source: str

    def held_out(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(validation x, y, test x, y), shaped for the models."""
        return self.val.x[..., None], self.val.y, self.test.x[..., None], self.test.y


def prepare_data(split: Split, grid: Grid) -> GridData:
    parts = [split.train, split.val, split.test]
    if grid.data.subset:
        parts = [stratified_subset(p, n, SPLIT_SEED) for p, n in zip(parts, grid.data.subset)]
    key = config_hash(split.key, grid.data.as_dict())
    return GridData(*parts, key=key, source=split.source)


def run_specs(grid: Grid, data: GridData) -> list[RunSpec]:
    return [RunSpec(grid.data.split, m, r, s,
                    config_hash(grid.train.as_dict(), grid.data.as_dict(), data.key, m, r, s))
            for r, s, m in grid.cells()]


@dataclass
class GridOutcome:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class ResampleCache:
    """Resampled training parts on disk, keyed by (data, resampler, seed, imbalanced-learn version)."""

    def __init__(self, cache_dir: Path):
        self.dir = cache_dir / "resampled"

    def path(self, data: GridData, resampler: str, seed: int) -> Path:
        from importlib.metadata import version

        return self.dir / f"{data.key}-{resampler}-seed{seed}-imblearn{version('imbalanced-learn')}.npz"

    def load(self, data: GridData, resampler: str, seed: int) -> Resampled | None:
        return load_part(self.path(data, resampler, seed))

    def save(self, data: GridData, resampler: str, seed: int, part: Resampled) -> None:
        save_part(self.path(data, resampler, seed), part)

    def ensure(self, data: GridData, resampler: str, seed: int, log) -> Path:
        """The path of a valid cache entry, resampling here first when there is none."""
        self.get(data, resampler, seed, log)
        return self.path(data, resampler, seed)

    def get(self, data: GridData, resampler: str, seed: int, log) -> Resampled:
        """The cached part, else resample here (and cache it)."""
        part = self.load(data, resampler, seed)
        if part is None:
            log(f"  resampling the training part with {resampler} (seed {seed}) ...")
            part = resample_training_part(data.train.x[..., None], data.train.y, resampler, seed)
            log(resampled_message(resampler, len(data.train.y), part))
            self.save(data, resampler, seed, part)
        return part


def _fmt(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class RunRecorder:
    """The driver's side of a grid: progress in the log, and every outcome written to the run store."""

    def __init__(self, grid: Grid, data: GridData, runs_dir: Path, total: int, provenance: dict, log):
        self.grid, self.data, self.runs_dir, self.total = grid, data, runs_dir, total
        self.provenance, self.log = provenance, log
        self.outcome = GridOutcome()
        self.start, self.reported = time.perf_counter(), 0

    def starting(self, spec: RunSpec) -> None:
        """Log the run about to start (in process, one at a time), with the time left at this pace."""
        self.reported += 1
        elapsed, trained = time.perf_counter() - self.start, len(self.outcome.done)
        eta = f", ETA {_fmt(elapsed / trained * (self.total - self.reported + 1))}" if trained else ""
        self.log(f"[run {self.reported}/{self.total}] {spec.model} × {spec.resampler}, seed {spec.seed} "
                 f"(elapsed {_fmt(elapsed)}{eta})")

    def arrived(self, spec: RunSpec) -> None:
        """Log a run whose result just came back (on Ray, several run at a time, in any order)."""
        self.reported += 1
        elapsed, left = time.perf_counter() - self.start, self.total - self.reported
        eta = f", ETA {_fmt(elapsed / self.reported * left)}" if left else ""
        self.log(f"[run {self.reported}/{self.total}] {spec.model} × {spec.resampler}, seed {spec.seed} "
                 f"finished (elapsed {_fmt(elapsed)}{eta})")

    def succeeded(self, spec: RunSpec, resampling: dict, result: dict) -> None:
        run_dir = self.runs_dir / spec.run_id
        predictions = result.pop("test_predictions")
        atomic_write(run_dir / PREDICTIONS, lambda f: np.save(f, predictions), binary=True)
        write_json(run_dir / "metrics.json", {
            **spec.__dict__, "run_id": spec.run_id, "grid": self.grid.name,
            "train_config": self.grid.train.as_dict(), "data_config": self.grid.data.as_dict(),
            "data_key": self.data.key, "resampling": resampling, **result, "provenance": self.provenance,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        })
        (run_dir / "error.json").unlink(missing_ok=True)
        self.outcome.done.append(spec.run_id)
        t = result["test"]
        self.log(f"  test macro F1 {t['macro_f1']:.4f}, recall " +
                 " ".join(f"{c} {t['recall'][c]:.2f}" for c in CLASSES) +
                 f"; {result['steps_trained']} steps in {result['seconds']['train']:.0f} s")

    def failed(self, spec: RunSpec, exc: BaseException, trace: str) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        self.outcome.failed[spec.run_id] = reason
        self.log(f"  FAILED: {reason}")
        write_json(self.runs_dir / spec.run_id / "error.json",
                   {**spec.__dict__, "run_id": spec.run_id, "error": reason, "traceback": trace})


def run_grid(grid: Grid, split: Split, results_dir: Path, cache_dir: Path | None = None,
             overwrite: bool = False, provenance: dict | None = None, log=None,
             verbose: bool = False, executor: LocalExecutor | RayExecutor | PackedExecutor | None = None) -> GridOutcome:
    """Train and evaluate every cell of ``grid`` not already done; returns what happened.

    ``executor``: None (a :class:`LocalExecutor`) trains in this process, with its own thread settings
    (the CLI sets them from ``--threads`` before TensorFlow starts); a :class:`RayExecutor` runs the
    cells as Ray tasks; a :class:`PackedExecutor` trains the runs of each model together on JAX.
    """
    log = log or stderr_log
    executor = executor or LocalExecutor()
    data = prepare_data(split, grid)
    specs = run_specs(grid, data)
    split_dir = Path(results_dir) / grid.data.split
    runs_dir = split_dir / "runs"
    cache = ResampleCache(Path(cache_dir) if cache_dir else default_cache_dir())
    provenance = {**(provenance or {}), "executor": executor.describe()}
    write_json(split_dir / "grid.json", {
        "grid": grid.name, "models": list(grid.models), "resamplers": list(grid.resamplers),
        "seeds": list(grid.seeds), "train": grid.train.as_dict(), "data": grid.data.as_dict(),
        "data_key": data.key, "data_source": data.source, "runs": [s.run_id for s in specs],
        "provenance": provenance,
        "class_counts": {name: dict(zip(CLASSES, part.class_counts().tolist()))
                         for name, part in (("train", data.train), ("validation", data.val), ("test", data.test))},
    })
    atomic_write(split_dir / TEST_LABELS, lambda f: np.save(f, data.test.y.astype(np.int8)), binary=True)
    atomic_write(split_dir / TEST_RECORDS, lambda f: np.save(f, data.test.record.astype("U8")), binary=True)
    pending = [s for s in specs if overwrite or not (runs_dir / s.run_id / "metrics.json").exists()]
    recorder = RunRecorder(grid, data, runs_dir, len(pending), provenance, log)
    recorder.outcome.skipped = [s.run_id for s in specs if s not in pending]
    log(f"grid {grid.name} on the {grid.data.split} split: {len(specs)} runs, {len(recorder.outcome.skipped)} "
        f"already done, {len(pending)} to run; results in {split_dir}")
    executor.run(pending, data, grid, cache, recorder, log, verbose)
    outcome = recorder.outcome
    log(f"grid finished in {_fmt(time.perf_counter() - recorder.start)}: {len(outcome.done)} trained, "
        f"{len(outcome.skipped)} skipped, {len(outcome.failed)} failed")
    return outcome


