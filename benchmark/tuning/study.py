"""A tuning study end to end: its identity and folder, the SQLite study that makes it resumable, the trials
run here (or on Ray Tune, ``benchmark.tuning.ray_tune``), the cheap-treatment shortcut, and its report.

Resuming. The study lives in ``<results>/<split>/tuning/<study>/study.sqlite3`` and its name is a hash of
everything that changes what its trials mean (model, treatment, budget, data, seed, space, sampler, pruner),
so the same command finds the same study and ``--trials N`` is how many finished trials it should hold
(completed, pruned, or failed with a reason). One process runs a study at a time (``study.lock``, released by
the kernel when that process dies, even by kill -9), so when a process starts, a trial still "running" was
left by one that stopped: it is marked interrupted and its point is tried again first; a trial stopped by
Ctrl-C is too. Finished trials are written as they finish, so no stop loses one.

Repeating. A study's sampler is seeded (``--sampler-seed``); a session that resumes a study of n trials
seeds it from (seed, n) through NumPy's SeedSequence (a sampler's random state is not stored: restarting it
at the seed would repeat the first points, and seed + n would not do either, since nearby seeds of NumPy's
RandomState draw nearly the same first numbers), so a study repeats given the same seed and the same points
of interruption.

Pruning. Every trial reports, at each validation check the trainer makes anyway, the best validation
macro F1 so far (what it would return if stopped there); the pruner (median or successive halving) compares
trials at the same optimizer step and may stop one, which is recorded as pruned at that step.
"""
from __future__ import annotations

import fcntl
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.config import Grid, config_hash
from benchmark.data.records import default_cache_dir
from benchmark.data.splits import Split
from benchmark.errors import DataError
from benchmark.store import ResampleCache, RunStore, StudyStore
from benchmark.tuning.objective import TrialData, fit_trial, treated_part
from benchmark.tuning.report import OBJECTIVE
from benchmark.tuning.space import StudySpace

log = logging.getLogger(__name__)
SAMPLERS = ("tpe", "grid")
PRUNERS = ("median", "halving", "none")
INSTALL_HINT = 'tune needs Optuna, an optional extra: pip install -e ".[tune]"'


def import_optuna():
    """Optuna, or ImportError saying how to install it."""
    try:
        import optuna
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # this module logs each trial itself
    return optuna


@dataclass(frozen=True)
class TuneRequest:
    """What to tune, how, and for how long. ``grid``: the budget and data each trial trains with (steps,
    checks, patience; split, task, input, subset); ``resampler``: the treatment the tuned settings are for;
    ``cheap_resampler``: tune on it instead, then retrain the ``confirm_top`` best points (and the untuned
    one) on ``resampler`` (the LSTM project's shortcut); ``trials``: finished trials the study should hold;
    ``timeout``: seconds this session may start trials for; ``fixed``: {prefixed name: value} pinned."""

    model: str
    grid: Grid
    resampler: str = "none"
    seed: int = 0
    trials: int = 20
    timeout: float | None = None
    sampler: str = "tpe"
    sampler_seed: int = 0
    pruner: str = "median"
    fixed: dict = field(default_factory=dict)
    tune_treatment: bool = False
    cheap_resampler: str | None = None
    confirm_top: int = 5
    jit: bool = False

    def __post_init__(self):
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler {self.sampler!r} is not one of {', '.join(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            raise ValueError(f"pruner {self.pruner!r} is not one of {', '.join(PRUNERS)}")
        if self.cheap_resampler and self.tune_treatment:
            raise ValueError("--tune-treatment with --cheap-resampler: the cheap treatment's parameters say nothing "
                             "about the full one's; tune the treatment without the shortcut")
        if self.cheap_resampler == self.resampler:
            raise ValueError(f"--cheap-resampler {self.cheap_resampler!r} is the treatment itself; name a cheaper one")


@dataclass
class TuneOutcome:
    store: StudyStore
    finished: int
    target: int
    interrupted: bool = False
    written: list = field(default_factory=list)


# ---------------------------------------------------------------------- the study's identity and storage

def study_identity(request: TuneRequest, data, space: StudySpace) -> dict:
    """What names a study: a change to any of it starts another study instead of resuming this one."""
    return {"model": request.model, "resampler": request.cheap_resampler or request.resampler,
            "for": request.resampler, "seed": request.seed, "train": request.grid.train.as_dict(),
            "data": request.grid.data.as_dict(), "data_key": data.key, "task": data.task.name,
            "space": space.describe(), "sampler": request.sampler, "sampler_seed": request.sampler_seed,
            "pruner": request.pruner}


def study_folder(request: TuneRequest, identity: dict) -> str:
    via = f"__via__{request.cheap_resampler}" if request.cheap_resampler else ""
    return f"{request.model}__{request.resampler}{via}__{request.sampler}-{config_hash(identity)}"


class StudyLock:
    """The study's lock file, held (flock) while this process runs the study; the kernel frees it when the
    process ends, however it ends."""

    def __init__(self, store: StudyStore):
        self.store, self.handle = store, None

    def __enter__(self):
        self.store.path.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.store.lock, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "another process"
            self.handle.close()
            raise DataError(f"{self.store.path}: this study is being run by {holder}; wait for it to finish (or stop "
                            "it), then run the same command to go on") from None
        self.handle.truncate(0)
        self.handle.write(f"process {os.getpid()} on {os.uname().nodename}\n")
        self.handle.flush()
        return self

    def __exit__(self, *exc):
        self.handle.truncate(0)
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def open_storage(store: StudyStore):
    optuna = import_optuna()
    return optuna.storages.RDBStorage(store.storage_url, engine_kwargs={"connect_args": {"timeout": 60}})


def session_seed(seed: int, trials_before: int) -> int:
    """The sampler's seed for a session that finds ``trials_before`` trials in the study (module docstring)."""
    if not trials_before:
        return seed
    import numpy as np

    return int(np.random.SeedSequence([seed, trials_before]).generate_state(1)[0])


def make_sampler(request: TuneRequest, space: StudySpace, trials_before: int):
    optuna = import_optuna()
    if request.sampler == "grid":  # it reads which points are done from the study, so its seed needs no change

        class Grid(optuna.samplers.GridSampler):
            def after_trial(self, study, trial, state, values):
                pass  # it would stop an optimize loop when the grid is done; the study's target already stops ours

        return Grid(space.grid(), seed=request.sampler_seed)
    return optuna.samplers.TPESampler(seed=session_seed(request.sampler_seed, trials_before))


def make_pruner(kind: str, eval_every: int):
    """The pruner: the median rule after 5 trials, or successive halving with rungs from the first check."""
    optuna = import_optuna()
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if kind == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=eval_every, reduction_factor=3)
    return optuna.pruners.NopPruner()


def open_study(storage, name: str, request: TuneRequest, space: StudySpace, pruner: str, attrs: dict):
    """The study ``name`` in ``storage`` (created when new, with the untuned point as its first trial), its
    sampler seeded for this session (module docstring)."""
    optuna = import_optuna()
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize", load_if_exists=True,
                                pruner=make_pruner(pruner, request.grid.train.eval_every))
    before = len(study.get_trials(deepcopy=False))
    if not study.user_attrs:
        for key, value in attrs.items():
            study.set_user_attr(key, value)
        if request.sampler == "tpe":  # a grid holds the untuned point already (space.grid)
            study.enqueue_trial(space.default_point(), user_attrs={"baseline": True})
    elif study.user_attrs.get("code") != attrs.get("code"):
        log.warning("study %s was begun with other code (%s, now %s): its earlier trials were trained by that code",
                    name, study.user_attrs.get("code"), attrs.get("code"))
    study.sampler = make_sampler(request, space, before)
    return study


# ---------------------------------------------------------------------- resuming

def is_finished(trial) -> bool:
    """Completed, pruned, or failed for a reason of its own (not stopped from outside)."""
    from optuna.trial import TrialState

    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or \
        (trial.state == TrialState.FAIL and "error" in trial.user_attrs)


def finished_count(study) -> int:
    return sum(is_finished(t) for t in study.get_trials(deepcopy=False))


def mark_interrupted(study, reason: str) -> int:
    """Every trial still running (none can be, while this process holds the lock) marked interrupted."""
    from optuna.trial import TrialState

    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in running:
        study._storage.set_trial_user_attr(trial._trial_id, "interrupted", reason)
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    return len(running)


def retry_interrupted(study) -> list[int]:
    """Queue the point of every interrupted trial not yet queued again, so the study goes on where it stopped."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    queued = {t.user_attrs.get("retry_of") for t in trials}
    again = [t for t in trials if t.state == TrialState.FAIL and "interrupted" in t.user_attrs
             and t.number not in queued and t.params]
    for trial in again:  # a confirmation keeps the search trial it confirms
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number, **{
            k: v for k, v in trial.user_attrs.items() if k == "search_trial"}})
    return [t.number for t in again]


def recover(study) -> None:
    stopped = mark_interrupted(study, "the process running it stopped (killed, or its machine went down)")
    again = retry_interrupted(study)
    if stopped or again:
        log.info("study %s: %d trial(s) left running by a stopped process; tried again first: trial(s) %s",
                 study.study_name, stopped, ", ".join(map(str, again)) or "none")


# ---------------------------------------------------------------------- trials in this process

def point_text(params: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def run_one(study, trial, space: StudySpace, data: TrialData, parts: dict, cache, key) -> None:
    """Train one trial and tell the study how it ended: completed, pruned at a check, or failed (the reason
    kept, the study going on). Ctrl-C marks it interrupted, to be tried again, and stops the study."""
    from optuna.trial import TrialState

    settings = space.settings(trial.params)
    trial.set_user_attr("settings", settings.record())
    trial.set_user_attr("executor", "local")
    best, pruned_at = [float("-inf")], []

    def on_check(step: int, score: float) -> bool:
        best[0] = max(best[0], score)
        trial.report(best[0], step)
        if trial.should_prune():
            pruned_at.append(step)
            return True
        return False

    try:
        part = treated_part(data, settings.resampler, parts, cache, key)
        result = fit_trial(data, settings, part, on_check)
    except KeyboardInterrupt:
        trial.set_user_attr("interrupted", "stopped by Ctrl-C")
        study.tell(trial, state=TrialState.FAIL)
        raise
    except Exception as exc:  # NaN loss, out of memory, a treatment that cannot work: recorded, the study goes on
        reason = f"{type(exc).__name__}: {exc}"
        trial.set_user_attr("error", reason)
        study.tell(trial, state=TrialState.FAIL)
        log.warning("  trial %d FAILED: %s (%s); recorded as failed, the study goes on", trial.number, reason,
                    point_text(trial.params))
        return
    for name in ("steps_trained", "best_step", "stopped_early", "seconds"):
        trial.set_user_attr(name, result[name])
    if pruned_at:
        trial.set_user_attr("pruned_at", pruned_at[0])
        study.tell(trial, state=TrialState.PRUNED)
        log.info("  trial %d pruned at step %d (best validation macro F1 so far %.4f) in %.0f s", trial.number,
                 pruned_at[0], best[0], result["seconds"])
    else:
        study.tell(trial, result["val_macro_f1"])
        log.info("  trial %d: validation macro F1 %.4f (best step %d of %d) in %.0f s; best so far %.4f (trial %d)",
                 trial.number, result["val_macro_f1"], result["best_step"], result["steps_trained"],
                 result["seconds"], study.best_value, study.best_trial.number)


def run_local(study, space: StudySpace, data: TrialData, target: int, deadline: float | None, cache, key) -> None:
    """Trials one after another in this process until the study holds ``target`` finished ones or the
    time is up (no trial starts after ``deadline``)."""
    parts: dict = {}
    while (done := finished_count(study)) < target:
        if deadline is not None and time.monotonic() >= deadline:
            log.info("study %s: the time budget is spent with %d of %d trials finished; run the same command to go "
                     "on", study.study_name, done, target)
            return
        trial = study.ask(space.distributions())
        log.info("[trial %d, %d/%d finished] %s", trial.number, done, target, point_text(trial.params))
        run_one(study, trial, space, data, parts, cache, key)


# ---------------------------------------------------------------------- a whole tune

def tune(request: TuneRequest, split: Split, results_dir: Path, cache_dir: Path | None = None,
         about: dict | None = None, ray=None) -> TuneOutcome:
    """Run (or resume) the study ``request`` asks for, then write its report (``benchmark.tuning.report``),
    also when stopped by Ctrl-C (the KeyboardInterrupt is raised again after). ``ray``: a
    ``benchmark.tuning.ray_tune.RayOptions`` to run the trials as Ray Tune trials; None: in this process.
    ``about``: the provenance (command, commit, machine) the report states."""
    from benchmark.running.plan import model_code, prepare_data, resample_key, resampler_code, training_code
    from benchmark.tuning.report import write_study_report

    import_optuna()
    grid = request.grid
    data = prepare_data(split, grid)
    search_resampler = request.cheap_resampler or request.resampler
    space = StudySpace.build(request.model, search_resampler, grid.train, request.fixed, request.tune_treatment)
    identity = study_identity(request, data, space)
    store = RunStore(results_dir).study(grid.data.split, study_folder(request, identity))
    cache = ResampleCache(Path(cache_dir) if cache_dir else default_cache_dir())
    trial_data = TrialData(request.model, request.seed, data.task.n_classes, data.features, data.val.x[..., None],
                           data.val.y, data.train.x[..., None], data.train.y, request.jit)
    code = {"model": model_code(request.model), "training": training_code(),
            "resampling": resampler_code(search_resampler)}
    attrs = {"identity": identity, "code": code, "objective": OBJECTIVE}
    target = request.trials
    if request.sampler == "grid" and space.grid_size() < target:
        log.info("the grid of this space has %d points: the study runs %d trials, not %d", space.grid_size(),
                 space.grid_size(), target)
        target = space.grid_size()
    deadline = time.monotonic() + request.timeout if request.timeout else None
    outcome = TuneOutcome(store, 0, target)
    with StudyLock(store):
        storage = open_storage(store)
        study = open_study(storage, store.name, request, space, request.pruner, attrs)
        confirm = None
        log.info("study %s: %d of %d trials finished; %s, %s sampler (seed %d), %s pruner; in %s", store.name,
                 finished_count(study), target, OBJECTIVE, request.sampler, request.sampler_seed, request.pruner,
                 store.database)
        try:
            recover(study)
            key = lambda resampler: resample_key(data, resampler, request.seed)  # noqa: E731
            run = _runner(ray, trial_data, cache, key, request)
            run(study, space, target, deadline, request.pruner)
            if request.cheap_resampler:
                confirm, confirm_space, count = confirmation_study(storage, store.name, study, request, grid, attrs)
                run(confirm, confirm_space, count, None, "none")
        except KeyboardInterrupt:
            outcome.interrupted = True
            raise
        finally:
            for stopped in (study, confirm):
                if stopped is not None:
                    mark_interrupted(stopped, "stopped by Ctrl-C" if outcome.interrupted else "its session ended")
            outcome.finished = finished_count(study)
            outcome.written = write_study_report(store, study, confirm, request, space, identity, about or {})
    return outcome


def _runner(ray, trial_data: TrialData, cache, key, request: TuneRequest):
    if ray is None:
        return lambda study, space, target, deadline, pruner: run_local(study, space, trial_data, target, deadline,
                                                                      cache, key)
    from benchmark.tuning.ray_tune import run_on_ray

    def run(study, space, target, deadline, pruner):
        parts = {}
        if not request.tune_treatment:  # every trial trains on the same part: treated once, here, and shipped
            from resampling import ResamplingError

            resampler = space.settings(space.default_point()).resampler
            try:
                parts[resampler] = treated_part(trial_data, resampler, {}, cache, key)
            except ResamplingError as exc:  # each trial fails with this reason, as in process
                log.warning("%s; every trial will fail with it", exc)
        run_on_ray(study, space, trial_data, parts, target - finished_count(study), deadline, pruner,
                   request.grid.train, ray)
    return run


def confirmation_study(storage, name: str, search, request: TuneRequest, grid: Grid, attrs: dict):
    """(the study that retrains the best ``confirm_top`` points of ``search`` and its untuned point on the
    full treatment, without pruning; its space; how many finished trials it should hold: those points, and
    any it confirmed before that are no longer among them, when the search has grown since)."""
    optuna = import_optuna()
    space = StudySpace.build(request.model, request.resampler, grid.train, request.fixed)
    confirm = optuna.create_study(storage=storage, study_name=f"{name}--confirm", direction="maximize",
                                  load_if_exists=True, pruner=optuna.pruners.NopPruner(),
                                  sampler=optuna.samplers.TPESampler(seed=request.sampler_seed))
    if not confirm.user_attrs:
        for key, value in {**attrs, "confirms": name, "treatment": request.resampler}.items():
            confirm.set_user_attr(key, value)
    recover(confirm)
    points = confirmation_points(search, request.confirm_top, space.default_point())
    trials = [t for t in confirm.get_trials(deepcopy=False) if "interrupted" not in t.user_attrs]
    queued = [t.system_attrs.get("fixed_params") or t.params for t in trials]
    for number, point in points:
        if point not in queued:
            confirm.enqueue_trial(point, user_attrs={"search_trial": number})
    wanted = [point for _, point in points]
    earlier = sum(is_finished(t) and t.params not in wanted for t in trials)
    log.info("confirming %d point(s) of the search on %s: trial(s) %s", len(points), request.resampler,
             ", ".join(str(n) for n, _ in points))
    return confirm, space, len(points) + earlier


def confirmation_points(search, top: int, untuned: dict) -> list[tuple[int, dict]]:
    """(trial number, point) of the ``top`` best completed trials (ties: the earlier), and the ``untuned``
    point's, where it completed."""
    from optuna.trial import TrialState

    complete = sorted(search.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)),
                      key=lambda t: (-t.value, t.number))
    chosen = complete[:top]
    baseline = next((t for t in complete if t.params == untuned), None)
    if baseline is not None and baseline not in chosen:
        chosen.append(baseline)
    points, seen = [], []
    for trial in chosen:
        if trial.params not in seen:
            seen.append(trial.params)
            points.append((trial.number, dict(trial.params)))
    return points
