"""Run a grid: one directory per run, named by its identity; its metrics file marks it done.

Layout under ``<results>/<split>/``:
- ``runs/<model>__<resampler>__seed<k>__<hash>/metrics.json`` — written atomically when a run ends;
  its presence means "done", so a rerun skips it (``overwrite`` forces it);
- ``runs/.../test_predictions.npy`` — the predicted class of every test beat (for paired tests);
- ``runs/.../error.json`` — a failed run's reason; the grid goes on and the run is retried next time;
- ``test_labels.npy`` — the true class of every test beat, in the order of the predictions;
- ``grid.json`` — the last grid run here (its runs, settings and provenance), read by the report.

The resampled training part is computed once per (resampler, seed, data), kept in memory for every
model of the grid, and cached on disk for later invocations.
"""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from benchmark.beats import CLASSES, BeatSet
from benchmark.config import Grid, config_hash
from benchmark.data import SPLIT_SEED, Split, load_arrays, save_arrays, stratified_subset
from benchmark.records import default_cache_dir, stderr_log
from benchmark.storage import atomic_write, write_json

PREDICTIONS = "test_predictions.npy"  # int8 class per test beat, in test-part order
TEST_LABELS = "test_labels.npy"  # the true classes of the test part, once per split directory


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

    def get(self, data: GridData, resampler: str, seed: int, log) -> tuple[np.ndarray, np.ndarray, dict]:
        from importlib.metadata import version

        from resampling import resample

        path = self.dir / f"{data.key}-{resampler}-seed{seed}-imblearn{version('imbalanced-learn')}.npz"
        cached = load_arrays(path)
        if cached is not None:
            info = {"seconds": float(cached["seconds"]), "cached": True}
            return cached["x"], cached["y"], info
        log(f"  resampling the training part with {resampler} (seed {seed}) ...")
        start = time.perf_counter()
        x, y = resample(resampler, data.train.x[..., None], data.train.y, seed)
        seconds = time.perf_counter() - start
        log(f"  {resampler}: {len(data.train.y)} → {len(y)} beats in {seconds:.1f} s")
        save_arrays(path, {"x": x, "y": y, "seconds": np.array(seconds)})
        return x, y, {"seconds": seconds, "cached": False}


def _fmt(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def run_grid(grid: Grid, split: Split, results_dir: Path, cache_dir: Path | None = None,
             overwrite: bool = False, provenance: dict | None = None, log=None,
             verbose: bool = False) -> GridOutcome:
    """Train and evaluate every cell of ``grid`` not already done; returns what happened."""
    from benchmark.trainer import train_and_evaluate
    from resampling import ResamplingError

    log = log or stderr_log
    data = prepare_data(split, grid)
    specs = run_specs(grid, data)
    split_dir = Path(results_dir) / grid.data.split
    runs_dir = split_dir / "runs"
    cache = ResampleCache(Path(cache_dir) if cache_dir else default_cache_dir())
    outcome = GridOutcome()
    write_json(split_dir / "grid.json", {
        "grid": grid.name, "models": list(grid.models), "resamplers": list(grid.resamplers),
        "seeds": list(grid.seeds), "train": grid.train.as_dict(), "data": grid.data.as_dict(),
        "data_key": data.key, "data_source": data.source, "runs": [s.run_id for s in specs],
        "provenance": provenance or {},
        "class_counts": {name: dict(zip(CLASSES, part.class_counts().tolist()))
                         for name, part in (("train", data.train), ("validation", data.val), ("test", data.test))},
    })
    atomic_write(split_dir / TEST_LABELS, lambda f: np.save(f, data.test.y.astype(np.int8)), binary=True)
    pending = [s for s in specs if overwrite or not (runs_dir / s.run_id / "metrics.json").exists()]
    outcome.skipped = [s.run_id for s in specs if s not in pending]
    log(f"grid {grid.name} on the {grid.data.split} split: {len(specs)} runs, {len(outcome.skipped)} already "
        f"done, {len(pending)} to run; results in {split_dir}")
    start, trained = time.perf_counter(), 0
    resampled: dict = {}
    for i, spec in enumerate(pending, 1):
        elapsed = time.perf_counter() - start
        eta = f", ETA {_fmt(elapsed / trained * (len(pending) - i + 1))}" if trained else ""
        log(f"[run {i}/{len(pending)}] {spec.model} × {spec.resampler}, seed {spec.seed} "
            f"(elapsed {_fmt(elapsed)}{eta})")
        run_dir = runs_dir / spec.run_id
        try:
            group = (spec.resampler, spec.seed)
            if group not in resampled:
                resampled.clear()  # keep one resampled set in memory at a time
                try:
                    resampled[group] = cache.get(data, spec.resampler, spec.seed, log)
                except ResamplingError as exc:
                    resampled[group] = exc
            if isinstance(resampled[group], Exception):
                raise resampled[group]
            x, y, resample_info = resampled[group]
            result = train_and_evaluate(spec.model, x, y, data.val.x[..., None], data.val.y,
                                        data.test.x[..., None], data.test.y, grid.train, spec.seed,
                                        log=log if verbose else None)
        except Exception as exc:  # a failed run is recorded and the grid goes on
            reason = f"{type(exc).__name__}: {exc}"
            outcome.failed[spec.run_id] = reason
            log(f"  FAILED: {reason}")
            write_json(run_dir / "error.json", {**spec.__dict__, "run_id": spec.run_id, "error": reason,
                                                "traceback": traceback.format_exc(limit=5)})
            continue
        trained += 1
        predictions = result.pop("test_predictions")
        atomic_write(run_dir / PREDICTIONS, lambda f: np.save(f, predictions), binary=True)
        counts = np.bincount(y, minlength=len(CLASSES)).tolist()
        write_json(run_dir / "metrics.json", {
            **spec.__dict__, "run_id": spec.run_id, "grid": grid.name,
            "train_config": grid.train.as_dict(), "data_config": grid.data.as_dict(), "data_key": data.key,
            "resampling": {**resample_info, "train_class_counts": dict(zip(CLASSES, counts))},
            **result, "provenance": provenance or {},
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        })
        (run_dir / "error.json").unlink(missing_ok=True)
        outcome.done.append(spec.run_id)
        t = result["test"]
        log(f"  test macro F1 {t['macro_f1']:.4f}, recall " +
            " ".join(f"{c} {t['recall'][c]:.2f}" for c in CLASSES) +
            f"; {result['steps_trained']} steps in {result['seconds']['train']:.0f} s")
    log(f"grid finished in {_fmt(time.perf_counter() - start)}: {len(outcome.done)} trained, "
        f"{len(outcome.skipped)} skipped, {len(outcome.failed)} failed")
    return outcome
