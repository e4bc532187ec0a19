"""Resampling ahead of training in worker processes: a part that fails, for any reason, fails its runs and
never the grid."""
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest

from benchmark.config import DataConfig, Grid, TrainConfig
from benchmark.data.splits import Split
from benchmark.running.executors import LocalExecutor, prefetch_resampled
from benchmark.running.plan import RunSpec, prepare_data
from benchmark.running.runner import run_grid
from benchmark.store import ResampleCache
from tests.conftest import clustered_beats

GRID = Grid("test", ("mlp",), ("random", "smote", "none"), (0,),
            TrainConfig(steps=4, batch_size=16, eval_every=2, patience=5), DataConfig(split="intra"))


@pytest.fixture(scope="module")
def split():
    b = clustered_beats(n_per_class=(150, 20, 30, 12, 25), seed=1)
    return Split("intra", b, b.take(np.arange(0, len(b), 4)), clustered_beats(seed=2), "synthetic", "k1")


@pytest.mark.slow  # the fast suite stays under its 5-minute budget; .ci/run runs it
def test_a_worker_that_raises_anything_leaves_its_part_uncached_and_the_others_cached(split, tmp_path, messages):
    # real spawned workers: an unregistered name raises KeyError in the worker, not a ResamplingError
    specs = [RunSpec("intra", "mlp", name, 0, "c", f"{name}-seed0-k") for name in ("none", "no_such", "random")]
    cache = ResampleCache(tmp_path)
    prefetch_resampled(prepare_data(split, GRID), specs, cache, workers=2)
    assert cache.load("none-seed0-k") is not None and cache.load("random-seed0-k") is not None
    assert not cache.path("no_such-seed0-k").exists()
    assert any("no_such (seed 0) failed: KeyError: " in m and "unknown resampler" in m for m in messages)


class DyingPool:
    """Runs each part in this process (so monkeypatches apply); the worker given ``smote`` dies, which
    breaks the pool for every part submitted after it, as a killed process does."""

    def __init__(self, *args, **kwargs):
        self.broken = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args):
        if self.broken:
            raise BrokenProcessPool("A child process terminated abruptly, the process pool is not usable anymore")
        future = Future()
        if args[2] == "smote":
            self.broken = True
            future.set_exception(BrokenProcessPool("A process in the process pool was terminated abruptly"))
            return future
        try:
            future.set_result(fn(*args))
        except Exception as exc:
            future.set_exception(exc)
        return future


@pytest.mark.slow  # the fast suite stays under its 5-minute budget; .ci/run runs it
def test_a_full_disk_or_a_dead_worker_fails_only_its_runs(split, tmp_path, monkeypatch, messages):
    import concurrent.futures

    import benchmark.running.executors as executors
    import benchmark.store as store

    real_save = store.save_part

    def save_part(path, part):  # the disk is full for random's part, in the workers and in this process
        if path.name.startswith("random-"):
            raise OSError(28, "No space left on device", str(path))
        real_save(path, part)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", DyingPool)
    monkeypatch.setattr(executors, "save_part", save_part)
    monkeypatch.setattr(store, "save_part", save_part)
    outcome = run_grid(GRID, split, tmp_path / "results", tmp_path / "cache", executor=LocalExecutor(resample_workers=3))
    lines = list(messages)
    assert any("random (seed 0) failed: OSError: [Errno 28] No space left on device" in m for m in lines)
    assert any("smote (seed 0) failed: BrokenProcessPool: " in m for m in lines)
    assert any("the resampling processes stopped" in m and "1 part(s) left" in m for m in lines)
    (failed_id, reason), = outcome.failed.items()  # random fails again when its run resamples it
    assert failed_id.startswith("mlp__random__") and "No space left on device" in reason
    assert sorted(run_id.split("__")[1] for run_id in outcome.done) == ["none", "smote"]
