"""Runs side by side on a CPU: one run per worker process, each process pinned to its own core with one thread.

A small model's step does not split well over threads: on two idle cores two pinned runs trained 2.4× (mlp) and
1.75× (lstm) the steps an hour of one run on both, though only 1.0-1.07× for the cnn and resnet
(``benchmarks/output/cpu_levers-*``).
A worker that needs a treated training part the cache lacks makes it itself, while the other trains, under
a lock so that no part is made twice. The jobs of several grids (both splits of a seed-major grid) share
one queue, so no core waits at a split's end. Each run checkpoints at its checks and stops at the deadline
as it does alone (``benchmark.estimators.control``).
"""
from __future__ import annotations

import fcntl
import logging
import multiprocessing
import os
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from benchmark.config import Grid
from benchmark.estimators.control import RunControl, TimeLimitReached
from benchmark.files import load_arrays, save_arrays
from benchmark.cores import available_cores
from benchmark.running.compute import determinism_env
from benchmark.running.plan import GridData, RunSpec
from benchmark.running.recorder import RunRecorder
from benchmark.store import ResampleCache, Resampled

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One run of one grid, with the grid's data and the recorder that writes its result."""

    spec: RunSpec
    grid: Grid
    data: GridData
    recorder: RunRecorder


@dataclass(frozen=True)
class _Task:
    """What a worker gets: names and paths, never the beats themselves."""

    model: str
    resampler: str
    seed: int
    resample_key: str
    parts: str  # the npz of the grid's training and held-out parts (``_write_parts``)
    cache_dir: str
    train: object  # TrainConfig
    classes: tuple
    features: int
    hyperparameters: dict
    control: RunControl
    jit: bool


def _write_parts(data: GridData, cache: ResampleCache) -> Path:
    """The grid's training, validation and test parts in one file the workers read (once per worker)."""
    path = cache.dir.parent / "parts" / f"{data.key}.npz"
    if load_arrays(path) is None:
        save_arrays(path, {"train_x": data.train.x[..., None], "train_y": data.train.y, "val_x": data.val.x[..., None],
                           "val_y": data.val.y, "test_x": data.test.x[..., None], "test_y": data.test.y})
    return path


_loaded: dict[str, dict] = {}  # in a worker: the parts file it read last, and its treated part


def _worker_start(cores, env: dict, verbose: bool) -> None:
    """Pin this worker to the next core in ``cores`` and give it one thread, before any backend starts."""
    core = cores.get()
    if hasattr(os, "sched_setaffinity") and core is not None:
        os.sched_setaffinity(0, {core})
    os.environ.update(env)
    from benchmark.logs import setup

    setup(verbose=verbose)


def _treated(task: _Task, parts: dict) -> Resampled:
    """The run's treated training part: from the cache, else made here under the part's lock (so another worker
    waiting for the same part reads it instead of making it again)."""
    from benchmark.running.executors import resample_training_part, resampled_message

    cache = ResampleCache(Path(task.cache_dir))
    part = cache.load(task.resample_key)
    if part is not None:
        return part
    lock = cache.path(task.resample_key).with_suffix(".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        part = cache.load(task.resample_key)
        if part is None:
            log.info("  resampling the training part with %s (seed %d) ...", task.resampler, task.seed)
            part = resample_training_part(parts["train_x"], parts["train_y"], task.resampler, task.seed, task.features)
            log.info(resampled_message(task.resampler, len(parts["train_y"]), part))
            cache.save(task.resample_key, part)
    return part


def _work(task: _Task) -> tuple[dict, dict]:
    """In a worker: (the run's result, its training part's info)."""
    from benchmark.running.executors import train_run

    if _loaded.get("path") != task.parts:
        _loaded.clear()
        _loaded.update(path=task.parts, arrays=load_arrays(Path(task.parts)))
        if _loaded["arrays"] is None:
            raise FileNotFoundError(f"{task.parts}: the grid's parts are missing or corrupt")
    parts = _loaded["arrays"]
    if _loaded.get("key") != task.resample_key:
        _loaded.update(key=task.resample_key, part=_treated(task, parts))
    part = _loaded["part"]
    held_out = (parts["val_x"], parts["val_y"], parts["test_x"], parts["test_y"])
    result = train_run(task.model, part, held_out, task.train, task.seed, task.classes, task.jit,
                       features=task.features, hyperparameters=task.hyperparameters, control=task.control)
    return result, part.info(task.classes)


@dataclass(frozen=True)
class PoolExecutor:
    """``workers`` runs at a time, each in a process pinned to one core with one thread (module docstring)."""

    workers: int = 2
    jit: bool = False

    def describe(self) -> dict:
        return {"name": "pool", "workers": self.workers, "threads": 1, "pinned": hasattr(os, "sched_setaffinity"),
                "jit_compile": self.jit}

    def run(self, pending: list[RunSpec], data: GridData, grid: Grid, cache: ResampleCache,
            recorder: RunRecorder, verbose: bool) -> None:
        self.run_jobs([Job(s, grid, data, recorder) for s in pending], cache, verbose)

    def run_jobs(self, jobs: list[Job], cache: ResampleCache, verbose: bool) -> None:
        """Run ``jobs`` in their order, ``workers`` at a time; stop starting new ones after the deadline."""
        from benchmark.running.executors import thread_env

        if not jobs:
            return
        paths = {}
        for job in jobs:
            if job.data.key not in paths:
                paths[job.data.key] = str(_write_parts(job.data, cache))
        context = multiprocessing.get_context("spawn")
        cores = context.Queue()
        allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [None]
        for i in range(self.workers):
            cores.put(allowed[i % len(allowed)])
        env = {**thread_env(1), **determinism_env(), "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        log.info("%d runs, %d at a time, each in a process pinned to one of %d core(s)", len(jobs), self.workers,
                 available_cores())
        queue, running = list(jobs), {}
        with ProcessPoolExecutor(self.workers, mp_context=context, initializer=_worker_start,
                                 initargs=(cores, env, verbose)) as pool:
            while queue or running:
                while queue and len(running) < self.workers:
                    job = queue.pop(0)
                    if job.recorder.past_deadline():
                        job.recorder.not_started([job.spec, *(j.spec for j in queue if j.recorder is job.recorder)])
                        queue = [j for j in queue if j.recorder is not job.recorder]
                        continue
                    job.recorder.starting(job.spec)
                    running[pool.submit(_work, self._task(job, paths[job.data.key], cache))] = job
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    self._record(running.pop(future), future)

    def _task(self, job: Job, parts: str, cache: ResampleCache) -> _Task:
        spec, grid, data = job.spec, job.grid, job.data
        return _Task(spec.model, spec.resampler, spec.seed, spec.resample_key, parts, str(cache.dir.parent),
                     grid.train_for(spec.model), data.task.classes, data.features,
                     grid.hyperparameters_for(spec.model), job.recorder.control(spec), self.jit)

    @staticmethod
    def _record(job: Job, future) -> None:
        try:
            result, info = future.result()
        except TimeLimitReached as exc:
            job.recorder.interrupted(job.spec, exc)
            return
        except BrokenProcessPool as exc:  # its worker died (killed, out of memory): its checkpoint resumes it
            job.recorder.failed(job.spec, exc, "the worker process running it died")
            raise
        except Exception as exc:  # a failed run is recorded and the grid goes on
            remote = exc.__cause__  # the worker's traceback, which the pool attaches
            job.recorder.failed(job.spec, exc, str(remote) if remote else traceback.format_exc(limit=5))
            return
        job.recorder.succeeded(job.spec, info, result)

