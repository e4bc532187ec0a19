"""Who does the work of a grid: in this process, one run at a time; as Ray tasks; or packed on a GPU.

The work itself is two plain functions of arrays with no file I/O (``resample_training_part`` and
``train_run``), so any executor can ship them. The driver (``benchmark.runner``) plans the grid and
writes every result through its recorder; an executor only decides where and when each piece runs.
"""
from __future__ import annotations

import os
import re
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchmark.beats import CLASSES
from benchmark.config import Grid, TrainConfig
from benchmark.records import stderr_log

if TYPE_CHECKING:
    from benchmark.runner import GridData, ResampleCache, RunRecorder, RunSpec


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


def save_part(path: Path, part: Resampled) -> None:
    """Write a resampled part as a checksummed cache entry (see ``benchmark.data.save_arrays``)."""
    from benchmark.data import save_arrays

    save_arrays(path, {"x": part.x, "y": part.y, "seconds": np.array(part.seconds)})


def load_part(path: Path) -> Resampled | None:
    """A cache entry written by :func:`save_part`; ``None`` when missing or corrupt."""
    from benchmark.data import load_arrays

    arrays = load_arrays(path)
    if arrays is None:
        return None
    return Resampled(arrays["x"], arrays["y"], float(arrays["seconds"]), cached=True)


def resample_training_part(train_x: np.ndarray, train_y: np.ndarray, resampler: str, seed: int) -> Resampled:
    from resampling import resample

    start = time.perf_counter()
    x, y = resample(resampler, train_x, train_y, seed)
    return Resampled(x, y, time.perf_counter() - start)


def train_run(model: str, part: Resampled, held_out: tuple, cfg: TrainConfig, seed: int, log=None,
              jit_compile: bool = False) -> dict:
    """Train and evaluate one fresh ``model`` on a resampled training part; see ``train_and_evaluate``."""
    from benchmark.trainer import train_and_evaluate

    return train_and_evaluate(model, part.x, part.y, *held_out, cfg, seed, log=log, jit_compile=jit_compile)


def _resample_worker(train_x: np.ndarray, train_y: np.ndarray, resampler: str, seed: int, path: str,
                     threads: int) -> tuple[float, int] | str:
    """In a worker process: resample and write the cache entry; (seconds, beats), or the error."""
    from threadpoolctl import threadpool_limits

    from resampling import ResamplingError

    with threadpool_limits(threads):
        try:
            part = resample_training_part(train_x, train_y, resampler, seed)
        except ResamplingError as exc:
            return str(exc)
    save_part(Path(path), part)
    return part.seconds, len(part.y)


def prefetch_resampled(data: GridData, groups: list[tuple[str, int]], cache: ResampleCache, workers: int,
                       log) -> None:
    """Compute the uncached (resampler, seed) groups into the cache, ``workers`` processes at a time.

    Each process gets ``cores // workers`` BLAS threads. A group that fails is left uncached; its runs
    fail with the same error when they ask the cache for it.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    missing = [g for g in dict.fromkeys(groups) if not cache.path(data, *g).exists()]
    if workers <= 1 or len(missing) <= 1:
        return
    workers = min(workers, len(missing))
    threads = max(1, len(os.sched_getaffinity(0)) // workers)
    log(f"resampling {len(missing)} training parts in {workers} processes ({threads} thread(s) each) ...")
    start = time.perf_counter()
    train_x, train_y = data.train.x[..., None], data.train.y
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_resample_worker, train_x, train_y, r, s, str(cache.path(data, r, s)), threads):
                   (r, s) for r, s in missing}
        for future in as_completed(futures):
            (resampler, seed), outcome = futures[future], future.result()
            if isinstance(outcome, str):
                log(f"  {resampler} (seed {seed}) failed: {outcome}")
            else:
                log(f"  {resampler} (seed {seed}): {len(train_y)} → {outcome[1]} beats in {outcome[0]:.1f} s")
    log(f"resampled in {time.perf_counter() - start:.1f} s")


def resampled_message(resampler: str, n_in: int, part: Resampled) -> str:
    return f"  {resampler}: {n_in} → {len(part.y)} beats in {part.seconds:.1f} s"


def thread_env(threads: int) -> dict[str, str]:
    """TensorFlow's thread counts, read when it starts in a process.

    They change a run's numbers (TensorFlow splits its sums by thread), so both executors train with
    the same count and the same seed gives the same bits whichever ran it.
    """
    return {"TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": str(threads)}


@dataclass(frozen=True)
class LocalExecutor:
    """Trains the runs one at a time in this process, with the thread settings TensorFlow started with.

    The resampled training part is computed once per (resampler, seed) and kept in memory for every
    model that shares it (runs are planned in that order); with ``resample_workers`` > 1 the uncached
    parts are first computed in that many processes.
    """

    jit: bool = False
    resample_workers: int = 1

    def describe(self) -> dict:
        threads = os.environ.get("TF_NUM_INTRAOP_THREADS")
        return {"name": "local", "threads": int(threads) if threads else "TensorFlow's default",
                "jit_compile": self.jit}

    def run(self, pending: list[RunSpec], data: GridData, grid: Grid, cache: ResampleCache,
            recorder: RunRecorder, log, verbose: bool) -> None:
        from resampling import ResamplingError

        prefetch_resampled(data, [(s.resampler, s.seed) for s in pending], cache, self.resample_workers, log)
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
                                   log=log if verbose else None, jit_compile=self.jit)
            except Exception as exc:  # a failed run is recorded and the grid goes on
                recorder.failed(spec, exc, traceback.format_exc(limit=5))
                continue
            recorder.succeeded(spec, resampled[group].info(), result)


def import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ImportError('--executor ray needs Ray, an optional extra: pip install -e ".[ray]"') from exc
    return ray


@dataclass(frozen=True)
class RayExecutor:
    """Every resampling and every run as a Ray task, each with ``threads`` CPUs and threads.

    One task per uncached (resampler, seed), one per run depending on it; the driver writes each result
    as it comes back, so workers need no shared file system.
    """

    address: str | None = None  # a running cluster ("auto", "ray://head:10001"); None: start a local instance
    workers: int | None = None  # CPUs of the local instance; None: all of this machine's
    threads: int = 1
    jit: bool = False

    def describe(self) -> dict:
        return {"name": "ray", "address": self.address or "local instance", "threads": self.threads,
                "jit_compile": self.jit}

    def run(self, pending: list[RunSpec], data: GridData, grid: Grid, cache: ResampleCache,
            recorder: RunRecorder, log, verbose: bool) -> None:
        if not pending:
            return
        ray = import_ray()
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(**({"address": self.address} if self.address else
                        {"num_cpus": self.workers, "include_dashboard": False}))
        try:
            self._run(ray, pending, data, grid, cache, recorder, log, verbose)
        finally:
            if started_here:
                ray.shutdown()

    def _run(self, ray, pending, data, grid, cache, recorder, log, verbose) -> None:
        from ray.exceptions import RayError

        # BLAS/OpenMP threads change no numbers, but tasks share the cores, so they are limited too
        env = {**thread_env(self.threads), "OMP_NUM_THREADS": str(self.threads),
               "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        options = {"num_cpus": self.threads, "runtime_env": {"env_vars": env}}
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
                                  stderr_log if verbose else None, self.jit): s for s in pending}
        del parts  # the runs hold their part, which the object store frees when they have finished
        log(f"on Ray: {len(resampling)} resampling and {len(runs)} training tasks, {self.threads} "
            f"thread(s) each, on {ray.cluster_resources().get('CPU', 0):.0f} CPUs")

        while resampling or runs:
            [ref], _ = ray.wait([*resampling.values(), *runs], num_returns=1)
            spec = runs.pop(ref, None)
            group = (spec.resampler, spec.seed) if spec else next(g for g, r in resampling.items() if r == ref)
            if group in resampling:  # finished before its runs, whatever order ray.wait reports them in
                try:
                    part = ray.get(resampling.pop(group))
                    cache.save(data, *group, part)
                    log(resampled_message(group[0], len(data.train.y), part))
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


def _pack_worker(model: str, members: list[tuple[int, str]], held_out: tuple, cfg: TrainConfig,
                 verbose: bool) -> tuple[list, list[dict]]:
    """In a worker process: train one pack from cached parts; (results, info of each member's part)."""
    from benchmark.packed import PackMember, train_pack

    loaded: dict[str, Resampled] = {}
    for _, path in members:
        if path not in loaded:
            loaded[path] = load_part(Path(path))
            if loaded[path] is None:
                raise FileNotFoundError(f"{path}: resampled training part missing or corrupt")
    pack = [PackMember(seed, loaded[path].x, loaded[path].y) for seed, path in members]
    results = train_pack(model, pack, *held_out, cfg, log=stderr_log if verbose else None)
    return results, [loaded[path].info() for _, path in members]


@dataclass(frozen=True)
class PackedExecutor:
    """Runs of the same model trained ``pack_size`` at a time in one compiled JAX step (``benchmark.packed``).

    Made for a GPU, where one small model leaves the device mostly idle. Every uncached resampled part
    is computed first, in ``resample_workers`` processes. Packs then train one after another in this
    process, or ``processes`` at a time in worker processes sharing the GPU (a pack bound by kernel
    launches, like the LSTM's, leaves room for another). A pack's parts stay in memory together, on
    the device too: about 5 GB for the 25 parts of the full grid's intra split. A pack that fails
    records the failure for each of its runs and the grid goes on.
    """

    pack_size: int = 25
    resample_workers: int = 1
    processes: int = 1

    def describe(self) -> dict:
        return {"name": "packed", "pack_size": self.pack_size, "processes": self.processes, "jit_compile": True}

    def run(self, pending: list[RunSpec], data: GridData, grid: Grid, cache: ResampleCache,
            recorder: RunRecorder, log, verbose: bool) -> None:
        from resampling import ResamplingError

        groups = list(dict.fromkeys((s.resampler, s.seed) for s in pending))
        prefetch_resampled(data, groups, cache, self.resample_workers, log)
        # worker processes read the cache themselves: here only make sure every part is in it
        fetch = cache.ensure if self.processes > 1 else cache.get
        parts = {}
        for group in groups:
            try:
                parts[group] = fetch(data, *group, log)
            except ResamplingError as exc:
                parts[group] = exc
        by_model: dict[str, list] = {}
        for spec in pending:
            if isinstance(parts[(spec.resampler, spec.seed)], Exception):
                recorder.failed(spec, parts[(spec.resampler, spec.seed)], "")
            else:
                by_model.setdefault(spec.model, []).append(spec)
        packs = [(m, specs[i:i + self.pack_size]) for m, specs in by_model.items()
                 for i in range(0, len(specs), self.pack_size)]
        if self.processes > 1:
            self._in_processes(packs, data, grid, cache, recorder, log, verbose)
            return
        from benchmark.packed import PackMember, train_pack

        val_x, val_y, test_x, test_y = data.held_out()
        for n, (model, specs) in enumerate(packs, 1):
            log(f"[pack {n}/{len(packs)}] {model}: {len(specs)} runs together")
            members = [PackMember(s.seed, parts[(s.resampler, s.seed)].x, parts[(s.resampler, s.seed)].y)
                       for s in specs]
            try:
                results = train_pack(model, members, val_x, val_y, test_x, test_y, grid.train,
                                     log=log if verbose else None)
            except Exception as exc:  # the whole pack failed: each of its runs records why
                trace = traceback.format_exc(limit=5)
                for spec in specs:
                    recorder.failed(spec, exc, trace)
                continue
            self._record(specs, results, [parts[(s.resampler, s.seed)].info() for s in specs], recorder)

    def _in_processes(self, packs, data, grid, cache, recorder, log, verbose) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        workers = min(self.processes, len(packs))
        log(f"{len(packs)} packs, {workers} at a time in worker processes")
        held_out = data.held_out()
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {}
            for n, (model, specs) in enumerate(packs, 1):
                members = [(s.seed, str(cache.path(data, s.resampler, s.seed))) for s in specs]
                futures[pool.submit(_pack_worker, model, members, held_out, grid.train, verbose)] = (n, model, specs)
            for future in as_completed(futures):
                n, model, specs = futures[future]
                log(f"[pack {n}/{len(packs)}] {model}: {len(specs)} runs finished")
                try:
                    results, infos = future.result()
                except Exception as exc:  # the whole pack failed (or its process died)
                    for spec in specs:
                        recorder.failed(spec, exc, traceback.format_exc(limit=5))
                    continue
                self._record(specs, results, infos, recorder)

    @staticmethod
    def _record(specs, results, infos, recorder) -> None:
        for spec, result, info in zip(specs, results, infos):
            recorder.arrived(spec)
            if isinstance(result, Exception):
                recorder.failed(spec, result, "")
            else:
                recorder.succeeded(spec, info, result)
