"""Runs that survive being stopped: a checkpoint at every check, resumed to the result of a run never interrupted;
the grid's time limit; seed-major order; the anytime predictions kept beside each run."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchmark.config import DataConfig, Grid, TrainConfig
from benchmark.data.splits import Split
from benchmark.estimators.control import CHECKPOINT, RunControl, TimeLimitReached, due_fractions, load_checkpoint
from benchmark.estimators.keras_estimator import BatchStream, batch_indices
from benchmark.files import load_arrays
from benchmark.running.plan import grid_directory
from benchmark.running.executors import LocalExecutor
from benchmark.running.runner import run_grid, run_grids
from benchmark.store import RunStore
from tests.conftest import REAL_MITDB, clustered_beats

PROJECT = Path(__file__).resolve().parents[1]
# mlp has dropout, so a resumed run must also restore its layers' random state to end as the uninterrupted one
GRID = Grid("test", ("mlp",), ("none", "random"), (0,),
            TrainConfig(steps=24, batch_size=16, eval_every=4, patience=50), DataConfig(split="intra"))


def make_split(name="intra"):
    b = clustered_beats(n_per_class=(150, 20, 30, 12, 25), seed=1)
    return Split(name, b, b.take(np.arange(0, len(b), 4)), clustered_beats(seed=2), "synthetic", "k1")


@pytest.fixture(scope="module")
def split():
    return make_split()


@pytest.fixture(scope="module")
def uninterrupted(split, tmp_path_factory):
    root = tmp_path_factory.mktemp("uninterrupted")
    outcome = run_grid(GRID, split, root / "results", root / "cache")
    assert len(outcome.done) == 2 and not outcome.failed
    return RunStore(root / "results").grid("intra", grid_directory(GRID))


def assert_same_runs(store, other):
    """Same runs, same predictions, probabilities, anytime checkpoints and validation history."""
    runs = store.manifest()["runs"]
    assert runs == other.manifest()["runs"]
    for run_id in runs:
        assert store.is_done(run_id), run_id
        np.testing.assert_array_equal(store.predictions(run_id), other.predictions(run_id))
        np.testing.assert_array_equal(store.probabilities(run_id), other.probabilities(run_id))
        mine, theirs = store.metrics(run_id), other.metrics(run_id)
        assert mine["history"] == theirs["history"] and mine["best_step"] == theirs["best_step"]
        assert mine["anytime"] == theirs["anytime"]
        for fraction, (predictions, probabilities) in other.anytime(run_id).items():
            np.testing.assert_array_equal(store.anytime(run_id)[fraction][0], predictions)
            np.testing.assert_array_equal(store.anytime(run_id)[fraction][1], probabilities)
        assert not store.checkpoint_dir(run_id).exists()  # a finished run's checkpoint goes


def test_the_batch_stream_restored_from_its_state_goes_on_as_the_uninterrupted_one():
    whole = list(batch_indices(50, 40, 16, np.random.default_rng(3)))
    stream = BatchStream(50, 16, np.random.default_rng(3))
    first = [stream.next() for _ in range(13)]
    state, order = json.loads(json.dumps(stream.state()[0])), stream.state()[1]
    again = BatchStream(50, 16, np.random.default_rng(99))
    again.restore(state, order)
    rest = [again.next() for _ in range(27)]
    for a, b in zip(whole, first + rest):
        np.testing.assert_array_equal(a, b)


def test_anytime_fractions_fall_on_the_last_check_within_them():
    # 24 steps, a check every 4: a quarter allows step 6 (its last check: 4), a half step 12 (checks at 12)
    assert due_fractions(4, 4, 24, (0.25, 0.5), {}, False) == [(0.25, 6)]
    assert due_fractions(8, 4, 24, (0.25, 0.5), {0.25: {}}, False) == []
    assert due_fractions(12, 4, 24, (0.25, 0.5), {0.25: {}}, False) == [(0.5, 12)]
    # a run that stops early: every fraction it has not reached takes its last check
    assert due_fractions(4, 4, 24, (0.25, 0.5), {}, True) == [(0.25, 6), (0.5, 12)]
    # no check within the fraction: none is made
    assert due_fractions(8, 8, 24, (0.25,), {}, False) == []


def test_a_run_stopped_at_the_time_limit_resumes_from_its_checkpoint_to_the_same_result(split, uninterrupted, tmp_path,
                                                                                      monkeypatch):
    from benchmark.running import recorder

    # the runs start (the grid's own check is passed) but each stops at its first validation check
    monkeypatch.setattr(recorder.RunRecorder, "past_deadline", lambda self: False)
    outcome = run_grid(GRID, split, tmp_path / "results", tmp_path / "cache", deadline=time.time() - 1)
    assert outcome.interrupted and not outcome.done and not outcome.failed
    store = RunStore(tmp_path / "results").grid("intra", grid_directory(GRID))
    [stopped] = outcome.interrupted
    arrays, state = load_checkpoint(store.checkpoint_dir(stopped))
    assert state["step"] == GRID.train.eval_every and not store.is_done(stopped)
    monkeypatch.undo()

    outcome = run_grid(GRID, split, tmp_path / "results", tmp_path / "cache")
    assert len(outcome.done) == 2 and not outcome.failed
    assert store.metrics(stopped)["resumed_at"] == [GRID.train.eval_every]
    assert_same_runs(store, uninterrupted)


def test_past_the_time_limit_no_run_starts_and_a_rerun_does_them(split, tmp_path):
    outcome = run_grid(GRID, split, tmp_path / "results", tmp_path / "cache", deadline=time.time() - 1)
    assert len(outcome.not_started) == 2 and not outcome.done and outcome.stopped_by_time_limit
    outcome = run_grid(GRID, split, tmp_path / "results", tmp_path / "cache")
    assert len(outcome.done) == 2


def test_a_corrupt_checkpoint_is_set_aside_and_the_run_starts_again(tmp_path):
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    (folder / CHECKPOINT).write_bytes(b"not a checkpoint")
    assert load_checkpoint(folder) is None
    assert not (folder / CHECKPOINT).exists() and list(folder.glob(f"{CHECKPOINT}.corrupt-*"))


def test_a_queued_run_past_the_deadline_never_starts(split):
    from benchmark.running.executors import train_run_in_time
    from benchmark.store import Resampled

    part = Resampled(split.train.x[..., None], split.train.y, 0.0)
    with pytest.raises(TimeLimitReached, match="not started"):  # a Ray task queued behind the limit
        train_run_in_time("mlp", part, (None, None, None, None), GRID.train, 0, ("N", "S", "V", "F", "Q"),
                  control=RunControl(deadline=time.time() - 1))


class Recording(LocalExecutor):
    """A one-at-a-time executor that records the order it is asked to run cells in."""

    def __init__(self):
        self.calls = []

    def describe(self):
        return {"name": "recording"}

    def run(self, pending, data, grid, cache, recorder, verbose):
        self.calls += [(grid.data.split, s.seed, s.resampler, s.model) for s in pending]


def test_packs_take_every_seed_of_a_split_at_once(tmp_path):
    """A GPU pack holds all of a model's runs (every seed): seed-major order must not split it into one a seed."""
    from benchmark.running.executors import PackedExecutor

    calls = []

    class Packs(PackedExecutor):
        def run(self, pending, data, grid, cache, recorder, verbose):
            calls.append([(s.seed, s.resampler) for s in pending])

    grid = Grid("test", ("mlp",), ("none", "random"), (0, 1), GRID.train, DataConfig(split="intra"))
    run_grids(grid, {"intra": make_split("intra"), "inter": make_split("inter")}, tmp_path / "r", tmp_path / "c",
              executor=Packs())
    assert calls == [[(0, "none"), (0, "random"), (1, "none"), (1, "random")]] * 2


def test_a_grid_runs_seed_major_across_its_splits(tmp_path):
    grid = Grid("test", ("mlp", "cnn"), ("none", "random"), (0, 1), GRID.train, DataConfig(split="intra"))
    assert [(s, r) for r, s, _ in grid.cells()][:4] == [(0, "none"), (0, "none"), (0, "random"), (0, "random")]
    executor = Recording()
    run_grids(grid, {"intra": make_split("intra"), "inter": make_split("inter")}, tmp_path / "r", tmp_path / "c",
              executor=executor)
    seeds_splits = [(seed, split) for split, seed, _, _ in executor.calls]
    assert seeds_splits == [(0, "intra")] * 4 + [(0, "inter")] * 4 + [(1, "intra")] * 4 + [(1, "inter")] * 4


def test_the_pool_queues_both_splits_seed_major(tmp_path):
    from benchmark.running.pool import PoolExecutor

    class Pool(PoolExecutor):
        def run_jobs(self, jobs, cache, verbose):
            object.__setattr__(self, "order", [(j.spec.seed, j.spec.split) for j in jobs])

    grid = Grid("test", ("mlp",), ("none",), (0, 1), GRID.train, DataConfig(split="intra"))
    pool = Pool(workers=2)
    run_grids(grid, {"intra": make_split("intra"), "inter": make_split("inter")}, tmp_path / "r", tmp_path / "c",
              executor=pool)
    assert pool.order == [(0, "intra"), (0, "inter"), (1, "intra"), (1, "inter")]


CHILD = """
import sys
sys.path.insert(0, {project!r})
from tests.test_resume import GRID, make_split
from benchmark.running.runner import run_grid
from dataclasses import replace
grid = replace(GRID, train=replace(GRID.train, steps=400, eval_every=10))
outcome = run_grid(grid, make_split(), {results!r}, {cache!r})
assert len(outcome.done) == 2, outcome.failed
"""


def _child(results: Path, cache: Path) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-c", CHILD.format(project=str(PROJECT), results=str(results),
                                                                  cache=str(cache))], env=env, cwd=PROJECT)


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_to_the_result_of_a_run_never_killed(tmp_path):
    from dataclasses import replace

    grid = replace(GRID, train=replace(GRID.train, steps=400, eval_every=10))
    store = RunStore(tmp_path / "killed").grid("intra", grid_directory(grid))
    child = _child(tmp_path / "killed", tmp_path / "cache")
    deadline = time.time() + 300
    while time.time() < deadline and child.poll() is None:  # kill it once its first run has checked a few times
        found = [load_arrays(p) for p in store.path.glob(f"runs/*/checkpoint/{CHECKPOINT}")]
        if any(f is not None and json.loads(str(f["state"]))["step"] >= 50 for f in found):
            break
        time.sleep(0.2)
    assert child.poll() is None, "the run finished before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert not any(store.is_done(r) for r in store.manifest()["runs"])
    assert list(store.path.glob(f"runs/*/checkpoint/{CHECKPOINT}"))

    assert _child(tmp_path / "killed", tmp_path / "cache").wait() == 0  # resumed
    assert _child(tmp_path / "never", tmp_path / "cache").wait() == 0
    resumed = [store.metrics(r).get("resumed_at") for r in store.manifest()["runs"]]
    assert any(resumed), "no run resumed from a checkpoint"
    assert_same_runs(store, RunStore(tmp_path / "never").grid("intra", grid_directory(grid)))


def test_the_pool_trains_a_grid_one_run_per_core_and_a_rerun_trains_nothing(split, tmp_path):
    from benchmark.running.pool import PoolExecutor

    outcome = run_grid(GRID, split, tmp_path / "results", tmp_path / "cache", executor=PoolExecutor(workers=2))
    assert len(outcome.done) == 2 and not outcome.failed
    store = RunStore(tmp_path / "results").grid("intra", grid_directory(GRID))
    for run_id in outcome.done:
        metrics = store.metrics(run_id)
        assert metrics["provenance"]["executor"]["name"] == "pool" and metrics["anytime"]
        assert store.model_path(run_id) is not None and not store.checkpoint_dir(run_id).exists()
    assert all(store.metrics(r)["ran_on"]["process"] != os.getpid() for r in outcome.done)  # in the workers
    assert run_grid(GRID, split, tmp_path / "results", tmp_path / "cache", executor=PoolExecutor(workers=2)).skipped


@pytest.mark.parametrize("text, seconds", [("2h30m", 9000), ("45m", 2700), ("90s", 90), ("1h", 3600),
                                           ("1h0m30s", 3630), ("0.5h", 1800)])
def test_a_time_limit_is_hours_minutes_and_seconds(text, seconds):
    from benchmark.cli import _duration

    assert _duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "", "10", "2h30", "0m", "-5m", "1d"])
def test_a_malformed_time_limit_is_one_clear_error(text, capsys):
    from benchmark.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["--grid", "smoke", "--time-limit", text])
    assert exit_.value.code == 2
    assert "--time-limit" in capsys.readouterr().err


@pytest.mark.real_data
@pytest.mark.skipif(not (REAL_MITDB / "100.dat").exists(), reason=f"no real records at {REAL_MITDB}")
def test_the_time_limit_stops_a_grid_with_exit_0_and_the_same_command_finishes_it(tmp_path, messages):
    from benchmark.cli import main

    args = ["--grid", "smoke", "--models", "mlp", "--resamplers", "none", "random", "--data-dir", str(REAL_MITDB),
            "--results-dir", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache")]
    assert main([*args, "--time-limit", "1s"]) == 0  # building the beats alone takes longer
    [line] = [m for m in messages if m.startswith("time limit")]
    assert "0 of 2 runs done" in line and "resume with: python" in line and "--time-limit 1s" in line
    assert main(args) == 0
    store = RunStore(tmp_path / "results").grid("intra", "smoke")
    assert all(store.is_done(r) for r in store.manifest()["runs"])


def test_a_partly_run_grid_reports_how_many_of_its_seeds_each_cell_has(split, uninterrupted, tmp_path):
    import shutil
    from dataclasses import replace

    from benchmark.reporting.report import write_report

    shutil.copytree(uninterrupted.path.parent.parent, tmp_path / "results")  # seed 0 of every cell
    two_seeds = replace(GRID, seeds=(0, 1))
    outcome = run_grid(two_seeds, split, tmp_path / "results", tmp_path / "cache", deadline=time.time() - 1)
    assert len(outcome.skipped) == 2 and len(outcome.not_started) == 2  # seed 1 planned, not run
    store = RunStore(tmp_path / "results").grid("intra", grid_directory(two_seeds))
    write_report(store)
    summary, report = (store.path / "summary.md").read_text(), (store.path / "REPORT.md").read_text()
    assert "| 1 of 2 " in summary
    assert "seeds 0 of the grid's 0, 1: a partial grid, 1 of 2 seeds done" in report


def test_jax_is_the_backend_unless_keras_backend_names_one(monkeypatch):
    from benchmark.running import compute

    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert compute.choose_backend() == "jax" and os.environ["KERAS_BACKEND"] == "jax"
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")  # the user's choice stands
    assert compute.choose_backend() is None and os.environ["KERAS_BACKEND"] == "tensorflow"


@pytest.mark.parametrize("backend, kind, cores, steps, executor", [
    ("jax", "cpu", 2, 10_000, "pool"), ("jax", "cpu", 1, 10_000, "local"), ("jax", "cpu", 2, 40, "local"),
    ("tensorflow", "cpu", 2, 10_000, "local"), ("jax", "gpu", 16, 10_000, "packed")])
def test_auto_runs_long_runs_one_per_core_on_a_cpu_with_jax(backend, kind, cores, steps, executor):
    from benchmark.cli import auto_executor

    assert auto_executor(backend, kind, cores, steps) == executor


@pytest.mark.parametrize("argv, chosen", [(["--grid", "full"], True), (["evaluate", "--grid", "quick"], True),
                                          (["tune", "--model", "lstm"], True), (["export", "--best"], False),
                                          (["serve", "bundle"], False), (["predict", "b", "in.csv"], False)])
def test_the_commands_that_train_or_score_runs_choose_jax(argv, chosen, monkeypatch):
    from benchmark import cli
    from benchmark.running import compute

    calls = []
    monkeypatch.setattr(compute, "choose_backend", lambda: calls.append(1))
    monkeypatch.setattr(compute, "configure", lambda deterministic: None)
    cli._early_settings(cli._with_command(argv))  # main names the command first: run where none is given
    assert bool(calls) is chosen


JAX_POOL_CHILD = """
import sys, time
sys.path.insert(0, {project!r})
from dataclasses import replace
import numpy as np
from tests.test_resume import GRID, make_split
from benchmark.running import recorder
from benchmark.running.plan import grid_directory
from benchmark.running.pool import PoolExecutor
from benchmark.running.runner import run_grid
from benchmark.store import RunStore

root, grid, split = {root!r}, replace(GRID, models=("mlp", "cnn")), make_split()
run_grid(grid, split, root + "/never", root + "/cache", executor=PoolExecutor(2, True))
started = recorder.RunRecorder.past_deadline
recorder.RunRecorder.past_deadline = lambda self: False  # every run starts, and stops at its first check
stopped = run_grid(grid, split, root + "/stopped", root + "/cache", executor=PoolExecutor(2, True),
                   deadline=time.time() - 1)
assert len(stopped.interrupted) == 4 and not stopped.done, (stopped.interrupted, stopped.done)
recorder.RunRecorder.past_deadline = started
assert len(run_grid(grid, split, root + "/stopped", root + "/cache", executor=PoolExecutor(2, True)).done) == 4
never, resumed = (RunStore(root + "/" + name).grid("intra", grid_directory(grid)) for name in ("never", "stopped"))
for run in never.manifest()["runs"]:
    assert resumed.metrics(run)["resumed_at"] == [grid.train.eval_every], run
    assert np.array_equal(never.probabilities(run), resumed.probabilities(run)), run
    assert never.metrics(run)["history"] == resumed.metrics(run)["history"], run
print("same")
"""


@pytest.mark.slow
def test_jax_runs_in_the_pool_resume_to_the_result_of_runs_never_stopped(tmp_path):
    """The campaign's path (JAX, compiled, one run per core): a run stopped at a check ends as the run never
    stopped, to the bit."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", JAX_POOL_CHILD.format(project=str(PROJECT), root=str(tmp_path))],
                          env=env, cwd=PROJECT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0 and "same" in done.stdout, done.stderr[-3000:]
