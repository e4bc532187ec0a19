"""Who does the work of a grid: in this process, one run at a time; as Ray tasks; or packed on a GPU.

The work itself is two plain functions of arrays with no file I/O (``resample_training_part`` and
``train_run``), so any executor can ship them. The driver (``benchmark.running.runner``) plans the grid and
writes every result through its recorder; an executor only decides where and when each piece runs.
"""
from __future__ import annotations

import logging
import os
import re
import time
import traceback
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from benchmark.config import Grid, TrainConfig
from benchmark.estimators.control import TimeLimitReached
from benchmark.logs import progress
from benchmark.cores import available_cores
from benchmark.running.plan import GridData, RunSpec
from benchmark.running.recorder import RunRecorder
from benchmark.store import ResampleCache, Resampled, load_part, save_part

log = logging.getLogger(__name__)


def resample_training_part(train_x: np.ndarray, train_y: np.ndarray, resampler: str, seed: int,
                           features: int = 0) -> Resampled:
    """Apply a treatment to the training part (``resampling.treat``): beats, labels and loss weights;
    ``features``: how many of each row's last positions are appended features."""
    from resampling import treat

    start = time.perf_counter()
    treated = treat(resampler, train_x, train_y, seed, features)
    return Resampled(treated.x, treated.y, time.perf_counter() - start, weights=treated.weights)


@lru_cache(maxsize=1)
def where_this_runs() -> dict:
    """The machine and device of this process (a Ray worker's own, not the driver's)."""
    from benchmark.provenance import machine
    from benchmark.running.compute import describe_device

    return {"machine": machine(), "process": os.getpid(),
            "device": describe_device("xla_gpu_deterministic_ops=true" in os.environ.get("XLA_FLAGS", ""))}


def train_run(model: str, part: Resampled, held_out: tuple, cfg: TrainConfig, seed: int, classes: tuple[str, ...],
              jit_compile: bool = False, verbose: bool = False, features: int = 0,
              hyperparameters: dict | None = None, control=None) -> dict:
    """Train and evaluate one fresh ``model`` on a treated training part (its loss weighted when the
    treatment gave weights); see ``train_and_evaluate``. ``verbose``: log every validation check (in a Ray
    worker, where the driver's logging is not set up); ``features``: how many of the input's last positions are
    appended features; ``hyperparameters``: the builder's tuned ones, if any; ``control``: its checkpoint and
    deadline (``benchmark.estimators.control.RunControl``). The result names the machine and device it ran on."""
    from benchmark.running.trainer import train_and_evaluate

    if verbose:
        from benchmark.logs import setup
        setup(verbose=True)
    result = train_and_evaluate(model, part.x, part.y, *held_out, cfg, seed, jit_compile=jit_compile,
                                sample_weight=part.weights, classes=classes, features=features,
                                hyperparameters=hyperparameters, control=control)
    return {**result, "ran_on": where_this_runs()}


def train_run_in_time(*args, control=None, **kwargs) -> dict:
    """:func:`train_run`, unless the deadline passed while it waited in a queue (a Ray task): then never started."""
    if control is not None and control.past_deadline():
        raise TimeLimitReached("not started: the time limit had passed")
    return train_run(*args, control=control, **kwargs)


def fetch_part(cache: ResampleCache, data: GridData, spec: RunSpec) -> Resampled:
    """A run's resampled training part from the cache, else resampled here (and cached)."""
    part = cache.load(spec.resample_key)
    if part is None:
        log.info("  resampling the training part with %s (seed %d) ...", spec.resampler, spec.seed)
        part = resample_training_part(data.train.x[..., None], data.train.y, spec.resampler, spec.seed,
                                      data.features)
        log.info(resampled_message(spec.resampler, len(data.train.y), part))
        cache.save(spec.resample_key, part)
    return part


def _resample_worker(train_x: np.ndarray, train_y: np.ndarray, resampler: str, seed: int, path: str,
                     threads: int, features: int = 0) -> tuple[float, int] | str:
    """In a worker process: resample and write the cache entry; (seconds, beats), or the error."""
    from threadpoolctl import threadpool_limits

    from resampling import ResamplingError

    with threadpool_limits(threads):
        try:
            part = resample_training_part(train_x, train_y, resampler, seed, features)
        except ResamplingError as exc:
            return str(exc)
    save_part(Path(path), part)
    return part.seconds, len(part.y)


def prefetch_resampled(data: GridData, specs: list[RunSpec], cache: ResampleCache, workers: int) -> None:
    """Compute the uncached training parts of ``specs`` into the cache, ``workers`` processes at a time.

    Each process gets ``cores // workers`` BLAS threads. A part that fails for any reason (a resampler's
    error, a full disk, out of memory, a worker that died and broke the pool) is left uncached; its runs
    resample it again when they ask the cache for it, and fail with their own reason if that fails too.
    """
    import multiprocessing
    from concurrent.futures import BrokenExecutor, ProcessPoolExecutor, as_completed

    missing = list({s.resample_key: s for s in specs if not cache.path(s.resample_key).exists()}.values())
    if workers <= 1 or len(missing) <= 1:
        return
    workers = min(workers, len(missing))
    threads = max(1, available_cores() // workers)
    log.info("resampling %d training parts in %d processes (%d thread(s) each) ...", len(missing), workers, threads)
    start = time.perf_counter()
    train_x, train_y = data.train.x[..., None], data.train.y
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {}
        for s in missing:
            try:
                futures[pool.submit(_resample_worker, train_x, train_y, s.resampler, s.seed,
                                    str(cache.path(s.resample_key)), threads, data.features)] = s
            except BrokenExecutor as exc:
                log.warning("  the resampling processes stopped (%s); %d part(s) left for their runs to resample",
                            exc, len(missing) - len(futures))
                break
        for future in progress(as_completed(futures), total=len(futures), desc="resampling", unit="part"):
            spec = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # this part's runs fail (or resample it themselves), never the grid
                outcome = f"{type(exc).__name__}: {exc}"
            if isinstance(outcome, str):
                log.warning("  %s (seed %d) failed: %s; left uncached for its runs", spec.resampler, spec.seed,
                            outcome)
            else:
                log.info("  %s (seed %d): %d → %d beats in %.1f s", spec.resampler, spec.seed, len(train_y),
                         outcome[1], outcome[0])
    log.info("resampled in %.1f s", time.perf_counter() - start)


def resampled_message(resampler: str, n_in: int, part: Resampled) -> str:
    return f"  {resampler}: {n_in} → {len(part.y)} beats in {part.seconds:.1f} s"


def thread_env(threads: int) -> dict[str, str]:
    """TensorFlow's and OpenMP's thread counts, read when they start in a process.

    They change a run's numbers (TensorFlow and its oneDNN kernels split their sums by thread), so every
    executor trains with the same counts and the same seed gives the same bits whichever ran it.
    """
    return {"TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": str(threads),
            "OMP_NUM_THREADS": str(threads)}


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
            recorder: RunRecorder, verbose: bool) -> None:
        from resampling import ResamplingError

        prefetch_resampled(data, pending, cache, self.resample_workers)
        held_out = data.held_out()
        resampled: dict = {}
        for n, spec in enumerate(pending):
            if recorder.past_deadline():
                recorder.not_started(pending[n:])
                return
            recorder.starting(spec)
            group = spec.resample_key
            try:
                if group not in resampled:
                    resampled.clear()  # keep one resampled set in memory at a time
                    try:
                        resampled[group] = fetch_part(cache, data, spec)
                    except ResamplingError as exc:
                        resampled[group] = exc
                if isinstance(resampled[group], Exception):
                    raise resampled[group]
                result = train_run(spec.model, resampled[group], held_out, grid.train_for(spec.model), spec.seed,
                                   data.task.classes, jit_compile=self.jit, features=data.features,
                                   hyperparameters=grid.hyperparameters_for(spec.model),
                                   control=recorder.control(spec))
            except TimeLimitReached as exc:
                recorder.interrupted(spec, exc)
                recorder.not_started(pending[n + 1:])
                return
            except Exception as exc:  # a failed run is recorded and the grid goes on
                recorder.failed(spec, exc, traceback.format_exc(limit=5))
                continue
            recorder.succeeded(spec, resampled[group].info(data.task.classes), result)


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
            recorder: RunRecorder, verbose: bool) -> None:
        if not pending:
            return
        ray = import_ray()
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(**({"address": self.address} if self.address else
                        {"num_cpus": self.workers, "include_dashboard": False}))
        try:
            self._run(ray, pending, data, grid, cache, recorder, verbose)
        finally:
            if started_here:
                ray.shutdown()

    def _run(self, ray, pending, data, grid, cache, recorder, verbose) -> None:
        from ray.exceptions import RayError

        # BLAS/OpenMP threads change no numbers, but tasks share the cores, so they are limited too
        from benchmark.running.compute import determinism_env

        # the driver's determinism switches too: TensorFlow's deterministic ops change CPU results' last bits
        env = {**thread_env(self.threads), **determinism_env(),
               "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        import keras  # the workers train on the driver's backend, whatever their own environment says

        env["KERAS_BACKEND"] = keras.backend.backend()
        options = {"num_cpus": self.threads, "runtime_env": {"env_vars": env}}
        resample_task = ray.remote(resample_training_part).options(**options)
        train_task = ray.remote(train_run_in_time).options(**options)

        parts, infos, resampling = {}, {}, {}  # group -> ref of its part, its info, its unfinished task
        train_x, train_y = ray.put(data.train.x[..., None]), ray.put(data.train.y)
        names = {}  # group -> (resampler, seed)
        for spec in pending:
            group = spec.resample_key
            if group in parts:
                continue
            names[group] = (spec.resampler, spec.seed)
            cached = cache.load(group)
            if cached is not None:  # used without a task
                parts[group], infos[group] = ray.put(cached), cached.info(data.task.classes)
            else:
                log.info("  resampling the training part with %s (seed %d) as a Ray task", spec.resampler, spec.seed)
                parts[group] = resampling[group] = resample_task.remote(train_x, train_y, spec.resampler, spec.seed,
                                                                       data.features)
        held_out = ray.put(data.held_out())
        runs = {train_task.remote(s.model, parts[s.resample_key], held_out, grid.train_for(s.model), s.seed,
                                  data.task.classes, self.jit, verbose, data.features,
                                  grid.hyperparameters_for(s.model), control=recorder.control(s)): s for s in pending}
        del parts  # the runs hold their part, which the object store frees when they have finished
        log.info("on Ray: %d resampling and %d training tasks, %d thread(s) each, on %.0f CPUs", len(resampling),
                 len(runs), self.threads, ray.cluster_resources().get("CPU", 0))

        while resampling or runs:
            [ref], _ = ray.wait([*resampling.values(), *runs], num_returns=1)
            spec = runs.pop(ref, None)
            group = spec.resample_key if spec else next(g for g, r in resampling.items() if r == ref)
            if group in resampling:  # finished before its runs, whatever order ray.wait reports them in
                try:
                    part = ray.get(resampling.pop(group))
                    cache.save(group, part)
                    log.info(resampled_message(names[group][0], len(data.train.y), part))
                    infos[group] = part.info(data.task.classes)
                except RayError:
                    pass  # its runs fail with the same error, and record it
            if spec is None:
                continue
            recorder.arrived(spec)
            try:
                result = ray.get(ref)
            except RayError as exc:  # a failed run is recorded and the grid goes on
                cause = getattr(exc, "cause", None) or exc  # what the task raised, as in process
                if isinstance(cause, TimeLimitReached):
                    recorder.interrupted(spec, cause)
                    continue
                recorder.failed(spec, cause, re.sub(r"\x1b\[[0-9;]*m", "", str(exc)))  # its remote traceback
                continue
            recorder.succeeded(spec, infos[group], result)


def _pack_worker(model: str, members: list[tuple[int, str]], held_out: tuple, cfg: TrainConfig,
                 classes: tuple[str, ...], verbose: bool, features: int = 0,
                 hyperparameters: dict | None = None) -> tuple[list, list[dict]]:
    """In a worker process: train one pack from cached parts; (results, info of each member's part)."""
    from benchmark.running.packed import PackMember, train_pack

    loaded: dict[str, Resampled] = {}
    for _, path in members:
        if path not in loaded:
            loaded[path] = load_part(Path(path))
            if loaded[path] is None:
                raise FileNotFoundError(f"{path}: resampled training part missing or corrupt")
    pack = [PackMember(seed, loaded[path].x, loaded[path].y, loaded[path].weights) for seed, path in members]
    if verbose:
        from benchmark.logs import setup
        setup(verbose=True)
    results = train_pack(model, pack, *held_out, cfg, classes=classes, features=features,
                         hyperparameters=hyperparameters)
    ran_on = where_this_runs()
    return ([r if isinstance(r, Exception) else {**r, "ran_on": ran_on} for r in results],
            [loaded[path].info(classes) for _, path in members])


@dataclass(frozen=True)
class PackedExecutor:
    """Runs of the same model trained ``pack_size`` at a time in one compiled JAX step (``benchmark.running.packed``).

    Made for a GPU, where one small model leaves the device mostly idle. Every uncached resampled part
    is computed first, in ``resample_workers`` processes. Packs then train one after another in this
    process, or ``processes`` at a time in worker processes sharing the GPU (a pack bound by kernel
    launches, like the LSTM's, leaves room for another). A pack's parts stay in memory together, on
    the device too: about 5 GB for the 25 parts of the full grid's intra split. A pack that fails
    records the failure for each of its runs and the grid goes on.
    """

    pack_size: int = 30  # a model's runs of the full grid: 6 treatments × 5 seeds
    resample_workers: int = 1
    processes: int = 1

    def describe(self) -> dict:
        return {"name": "packed", "pack_size": self.pack_size, "processes": self.processes, "jit_compile": True}

    def run(self, pending: list[RunSpec], data: GridData, grid: Grid, cache: ResampleCache,
            recorder: RunRecorder, verbose: bool) -> None:
        from resampling import ResamplingError

        from benchmark.estimators import estimator_class

        prefetch_resampled(data, pending, cache, self.resample_workers)
        packable = [s for s in pending if estimator_class(s.model).packable]
        alone = [s for s in pending if not estimator_class(s.model).packable]
        if alone:  # a scikit-learn model, say: trained one run at a time, here (it reads its own parts)
            log.info("%d run(s) of models that do not pack: trained one at a time", len(alone))
            LocalExecutor(jit=False).run(alone, data, grid, cache, recorder, verbose)
        parts = {}
        for spec in packable:
            if spec.resample_key in parts:
                continue
            try:
                parts[spec.resample_key] = fetch_part(cache, data, spec)
                if self.processes > 1:  # worker processes read the cache themselves
                    parts[spec.resample_key] = None
            except ResamplingError as exc:
                parts[spec.resample_key] = exc
        by_model: dict[str, list] = {}
        for spec in packable:
            if isinstance(parts[spec.resample_key], Exception):
                recorder.failed(spec, parts[spec.resample_key], "")
            else:
                by_model.setdefault(spec.model, []).append(spec)
        packs = [(m, specs[i:i + self.pack_size]) for m, specs in by_model.items()
                 for i in range(0, len(specs), self.pack_size)]
        if self.processes > 1:
            self._in_processes(packs, data, grid, cache, recorder, verbose)
            return
        from benchmark.running.packed import PackMember, train_pack

        val_x, val_y, test_x, test_y = data.held_out()
        for n, (model, specs) in enumerate(packs, 1):
            log.info("[pack %d/%d] %s: %d runs together", n, len(packs), model, len(specs))
            members = [PackMember(s.seed, parts[s.resample_key].x, parts[s.resample_key].y,
                                  parts[s.resample_key].weights) for s in specs]
            try:
                results = train_pack(model, members, val_x, val_y, test_x, test_y, grid.train_for(model),
                                     data.task.classes, features=data.features,
                                     hyperparameters=grid.hyperparameters_for(model))
            except Exception as exc:  # the whole pack failed: each of its runs records why
                trace = traceback.format_exc(limit=5)
                for spec in specs:
                    recorder.failed(spec, exc, trace)
                continue
            ran_on = where_this_runs()
            results = [r if isinstance(r, Exception) else {**r, "ran_on": ran_on} for r in results]
            self._record(specs, results, [parts[s.resample_key].info(data.task.classes) for s in specs], recorder)

    def _in_processes(self, packs, data, grid, cache, recorder, verbose) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        workers = min(self.processes, len(packs))
        log.info("%d packs, %d at a time in worker processes", len(packs), workers)
        held_out = data.held_out()
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {}
            for n, (model, specs) in enumerate(packs, 1):
                members = [(s.seed, str(cache.path(s.resample_key))) for s in specs]
                futures[pool.submit(_pack_worker, model, members, held_out, grid.train_for(model),
                                    data.task.classes, verbose, data.features,
                                    grid.hyperparameters_for(model))] = (n, model, specs)
            for future in as_completed(futures):
                n, model, specs = futures[future]
                log.info("[pack %d/%d] %s: %d runs finished", n, len(packs), model, len(specs))
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
