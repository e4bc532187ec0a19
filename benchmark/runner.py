"""Run a grid: one directory per run, named by its identity; its metrics file marks it done.

Layout under ``<results>/<split>/``:
- ``runs/<model>__<resampler>__seed<k>__<hash>/metrics.json`` — written atomically when a run ends;
  its presence means "done", so a rerun skips it (``overwrite`` forces it);
- ``runs/.../test_predictions.npy`` — the predicted class of every test beat (for paired tests);
- ``runs/.../error.json`` — a failed run's reason; the grid goes on and the run is retried next time;
- ``test_labels.npy`` — the true class of every test beat, in the order of the predictions;
- ``grid.json`` — the last grid run here (its runs, settings and provenance), read by the report.

The driver (this process) plans the grid and writes every result; an executor does the work of each
run. In process (the default), runs train one at a time, and the resampled training part is computed
once per (resampler, seed, data) and kept in memory for every model that shares it. On Ray, every
resampling and every run is a task; the driver writes each result as it comes back, so workers need no
shared file system. Either way resampled training parts are cached on disk for later invocations, and
the run store is the same, so a grid started by one executor is resumed by the other.
"""
from __future__ import annotations

import os
import re
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from benchmark.beats import CLASSES, BeatSet
from benchmark.config import Grid, TrainConfig, config_hash
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


@dataclass
class Resampled:
    """A resampled training part, shaped (n, length, 1), and the seconds its resampling took."""

    x: np.ndarray
    y: np.ndarray
    seconds: float
    cached: bool = False

    def info(self) -> dict:
        counts = np.bincount(self.y, minlength=len(CLASSES)).tolist()
        return {"seconds": self.seconds, "cached": self.cached, "train_class_counts": dict(zip(CLASSES, counts))}


# The work of a grid, the same whichever executor does it: plain functions of arrays, no file I/O.

def resample_training_part(train_x: np.ndarray, train_y: np.ndarray, resampler: str, seed: int) -> Resampled:
    from resampling import resample

    start = time.perf_counter()
    x, y = resample(resampler, train_x, train_y, seed)
    return Resampled(x, y, time.perf_counter() - start)


def train_run(model: str, part: Resampled, held_out: tuple, cfg: TrainConfig, seed: int, log=None) -> dict:
    """Train and evaluate one fresh ``model`` on a resampled training part; see ``train_and_evaluate``."""
    from benchmark.trainer import train_and_evaluate

    return train_and_evaluate(model, part.x, part.y, *held_out, cfg, seed, log=log)


class ResampleCache:
    """Resampled training parts on disk, keyed by (data, resampler, seed, imbalanced-learn version)."""

    def __init__(self, cache_dir: Path):
        self.dir = cache_dir / "resampled"

    def _path(self, data: GridData, resampler: str, seed: int) -> Path:
        from importlib.metadata import version

        return self.dir / f"{data.key}-{resampler}-seed{seed}-imblearn{version('imbalanced-learn')}.npz"

    def load(self, data: GridData, resampler: str, seed: int) -> Resampled | None:
        cached = load_arrays(self._path(data, resampler, seed))
        if cached is None:
            return None
        return Resampled(cached["x"], cached["y"], float(cached["seconds"]), cached=True)

    def save(self, data: GridData, resampler: str, seed: int, part: Resampled) -> None:
        save_arrays(self._path(data, resampler, seed), {"x": part.x, "y": part.y, "seconds": np.array(part.seconds)})

    def get(self, data: GridData, resampler: str, seed: int, log) -> Resampled:
        """The cached part, else resample here (and cache it)."""
        part = self.load(data, resampler, seed)
        if part is None:
            log(f"  resampling the training part with {resampler} (seed {seed}) ...")
            part = resample_training_part(data.train.x[..., None], data.train.y, resampler, seed)
            log(_resampled_message(resampler, data, part))
            self.save(data, resampler, seed, part)
        return part


def _resampled_message(resampler: str, data: GridData, part: Resampled) -> str:
    return f"  {resampler}: {len(data.train.y)} → {len(part.y)} beats in {part.seconds:.1f} s"


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


@dataclass(frozen=True)
class RayExecutor:
    """Run every resampling and every run as a Ray task, each with ``threads`` CPUs and threads."""

    address: str | None = None  # a running cluster ("auto", "ray://head:10001"); None: start a local instance
    workers: int | None = None  # CPUs of the local instance; None: all of this machine's
    threads: int = 1


def thread_env(threads: int) -> dict[str, str]:
    """TensorFlow's thread counts, read when it starts in a process.

    They change a run's numbers (TensorFlow splits its sums by thread), so both executors train with
    the same count and the same seed gives the same bits whichever ran it.
    """
    return {"TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": str(threads)}


def import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ImportError('--executor ray needs Ray, an optional extra: pip install -e ".[ray]"') from exc
    return ray


def run_grid(grid: Grid, split: Split, results_dir: Path, cache_dir: Path | None = None,
             overwrite: bool = False, provenance: dict | None = None, log=None,
             verbose: bool = False, executor: RayExecutor | None = None) -> GridOutcome:
    """Train and evaluate every cell of ``grid`` not already done; returns what happened.

    ``executor``: None trains in this process, with its own thread settings (the CLI sets them from
    ``--threads`` before TensorFlow starts); a :class:`RayExecutor` runs the cells as Ray tasks.
    """
    log = log or stderr_log
    data = prepare_data(split, grid)
    specs = run_specs(grid, data)
    split_dir = Path(results_dir) / grid.data.split
    runs_dir = split_dir / "runs"
    cache = ResampleCache(Path(cache_dir) if cache_dir else default_cache_dir())
    provenance = {**(provenance or {}), "executor": _describe(executor)}
    write_json(split_dir / "grid.json", {
        "grid": grid.name, "models": list(grid.models), "resamplers": list(grid.resamplers),
        "seeds": list(grid.seeds), "train": grid.train.as_dict(), "data": grid.data.as_dict(),
        "data_key": data.key, "data_source": data.source, "runs": [s.run_id for s in specs],
        "provenance": provenance,
        "class_counts": {name: dict(zip(CLASSES, part.class_counts().tolist()))
                         for name, part in (("train", data.train), ("validation", data.val), ("test", data.test))},
    })
    atomic_write(split_dir / TEST_LABELS, lambda f: np.save(f, data.test.y.astype(np.int8)), binary=True)
    pending = [s for s in specs if overwrite or not (runs_dir / s.run_id / "metrics.json").exists()]
    recorder = RunRecorder(grid, data, runs_dir, len(pending), provenance, log)
    recorder.outcome.skipped = [s.run_id for s in specs if s not in pending]
    log(f"grid {grid.name} on the {grid.data.split} split: {len(specs)} runs, {len(recorder.outcome.skipped)} "
        f"already done, {len(pending)} to run; results in {split_dir}")
    if executor is None:
        _run_in_process(pending, data, grid, cache, recorder, log, verbose)
    elif pending:
        _run_on_ray(pending, data, grid, cache, recorder, executor, log, verbose)
    outcome = recorder.outcome
    log(f"grid finished in {_fmt(time.perf_counter() - recorder.start)}: {len(outcome.done)} trained, "
        f"{len(outcome.skipped)} skipped, {len(outcome.failed)} failed")
    return outcome


def _describe(executor: RayExecutor | None) -> dict:
    if executor is None:
        threads = os.environ.get("TF_NUM_INTRAOP_THREADS")
        return {"name": "local", "threads": int(threads) if threads else "TensorFlow's default"}
    return {"name": "ray", "address": executor.address or "local instance", "threads": executor.threads}


def _run_in_process(pending: list[RunSpec], data: GridData, grid: Grid, cache: ResampleCache,
                    recorder: RunRecorder, log, verbose: bool) -> None:
    from resampling import ResamplingError

    held_out = data.held_out()
    resampled: dict = {}
    for spec in pending:
        recorder.starting(spec)
        group = (spec.resampler, spec.seed)
        try:
            if group not in resampled:
                resampled.clear()  # keep one resampled set in memory at a time
                try:
                    resampled[group] = cache.get(data, spec.resampler, spec.seed, log)
                except ResamplingError as exc:
                    resampled[group] = exc
            if isinstance(resampled[group], Exception):
                raise resampled[group]
            result = train_run(spec.model, resampled[group], held_out, grid.train, spec.seed,
                               log=log if verbose else None)
        except Exception as exc:  # a failed run is recorded and the grid goes on
            recorder.failed(spec, exc, traceback.format_exc(limit=5))
            continue
        recorder.succeeded(spec, resampled[group].info(), result)


def _run_on_ray(pending: list[RunSpec], data: GridData, grid: Grid, cache: ResampleCache,
                recorder: RunRecorder, executor: RayExecutor, log, verbose: bool) -> None:
    """One task per uncached (resampler, seed), one per run depending on it; results written as they come."""
    ray = import_ray()
    from ray.exceptions import RayError

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(**({"address": executor.address} if executor.address else
                    {"num_cpus": executor.workers, "include_dashboard": False}))
    try:
        # BLAS/OpenMP threads change no numbers, but tasks share the cores, so they are limited too
        env = {**thread_env(executor.threads), "OMP_NUM_THREADS": str(executor.threads),
               "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        options = {"num_cpus": executor.threads, "runtime_env": {"env_vars": env}}
        resample_task = ray.remote(resample_training_part).options(**options)
        train_task = ray.remote(train_run).options(**options)

        parts, infos, resampling = {}, {}, {}  # group -> ref of its part, its info, its unfinished task
        train_x, train_y = ray.put(data.train.x[..., None]), ray.put(data.train.y)
        for group in dict.fromkeys((s.resampler, s.seed) for s in pending):
            cached = cache.load(data, *group)
            if cached is not None:  # used without a task
                parts[group], infos[group] = ray.put(cached), cached.info()
            else:
                log(f"  resampling the training part with {group[0]} (seed {group[1]}) as a Ray task")
                parts[group] = resampling[group] = resample_task.remote(train_x, train_y, *group)
        held_out = ray.put(data.held_out())
        runs = {train_task.remote(s.model, parts[(s.resampler, s.seed)], held_out, grid.train, s.seed,
                                  stderr_log if verbose else None): s for s in pending}
        del parts  # the runs hold their part, which the object store frees when they have finished
        log(f"on Ray: {len(resampling)} resampling and {len(runs)} training tasks, {executor.threads} "
            f"thread(s) each, on {ray.cluster_resources().get('CPU', 0):.0f} CPUs")

        while resampling or runs:
            [ref], _ = ray.wait([*resampling.values(), *runs], num_returns=1)
            spec = runs.pop(ref, None)
            group = (spec.resampler, spec.seed) if spec else next(g for g, r in resampling.items() if r == ref)
            if group in resampling:  # finished before its runs, whatever order ray.wait reports them in
                try:
                    part = ray.get(resampling.pop(group))
                    cache.save(data, *group, part)
                    log(_resampled_message(group[0], data, part))
                    infos[group] = part.info()
                except RayError:
                    pass  # its runs fail with the same error, and record it
            if spec is None:
                continue
            recorder.arrived(spec)
            try:
                result = ray.get(ref)
            except RayError as exc:  # a failed run is recorded and the grid goes on
                cause = getattr(exc, "cause", None) or exc  # what the task raised, as in process
                recorder.failed(spec, cause, re.sub(r"\x1b\[[0-9;]*m", "", str(exc)))  # its remote traceback
                continue
            recorder.succeeded(spec, infos[group], result)
    finally:
        if started_here:
            ray.shutdown()
