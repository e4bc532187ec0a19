"""A study's trials as Ray Tune trials (``tune --executor ray``), on a local Ray instance or a cluster
(``--ray-address``), into the same SQLite study as trials run in process.

Optuna's sampler suggests through Ray Tune's ``OptunaSearch``, which asks and tells the study in this process
(the driver), so the SQLite file needs no shared file system; a ``ConcurrencyLimiter`` caps the trials that
run at once and ASHA stops the weak ones at the validation checks (any ``--pruner`` but ``none``). Each trial
is the same function as in process (``benchmark.tuning.objective.fit_trial``) on a worker, reporting the best
validation macro F1 at every check. What Ray Tune does not tell a searcher is added here: a trial that ASHA
stopped is recorded as pruned at its last step (Ray marks it done), a trial that raised as failed with its
reason, and each trial's settings, steps and time as in process. No trial starts after the time budget; the
running ones finish.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from ray.tune.search import ConcurrencyLimiter, Searcher
from ray.tune.search.optuna import OptunaSearch

from benchmark.config import TrainConfig
from benchmark.tuning.objective import TrialData, fit_trial, treated_part
from benchmark.tuning.space import StudySpace

log = logging.getLogger(__name__)
METRIC = "val_macro_f1"


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # a running cluster ("auto", "ray://head:10001"); None: a local instance
    workers: int | None = None  # CPUs of a local instance; None: all of this machine's
    threads: int = 1  # CPUs (and TensorFlow threads) per trial
    concurrency: int | None = None  # trials at once; None: the cluster's CPUs / threads
    storage: str | None = None  # where Ray Tune keeps its own experiment files (not the study)


def _trial(config: dict, space: StudySpace, data: TrialData, parts: dict) -> None:
    """One Ray Tune trial: the settings of its point, trained as in process, reported at every check."""
    from ray import tune

    settings = space.settings(config)
    best = [-1.0]

    def on_check(step: int, score: float) -> bool:
        best[0] = max(best[0], score)
        tune.report({METRIC: best[0], "step": step, "finished": False})
        return False  # ASHA stops a trial from outside

    try:
        part = treated_part(data, settings.resampler, dict(parts))
        result = fit_trial(data, settings, part, on_check)
    except Exception as exc:  # recorded by the searcher as failed, with its reason; the study goes on
        tune.report({METRIC: best[0], "step": -1, "finished": True, "error": f"{type(exc).__name__}: {exc}"})
        return
    tune.report({METRIC: result["val_macro_f1"], "step": result["steps_trained"], "finished": True,
                 **{k: result[k] for k in ("steps_trained", "best_step", "stopped_early", "seconds")}})


class StudySearch(OptunaSearch):
    """``OptunaSearch`` on the study in storage, recording pruned and failed trials and what they trained with,
    and suggesting nothing after ``deadline`` (``time.monotonic``)."""

    def __init__(self, space: StudySpace, study, deadline: float | None, pruner: str):
        super().__init__(space=space.distributions(), metric=METRIC, mode="max", sampler=study.sampler,
                         study_name=study.study_name, storage=study._storage)
        self.study_space, self.deadline, self.pruner = space, deadline, pruner

    def suggest(self, trial_id: str):
        if self.deadline is not None and time.monotonic() >= self.deadline:
            log.info("the time budget is spent: no more trials start; the running ones finish")
            return Searcher.FINISHED
        return super().suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if not result.get("finished") and trial_id in self._ot_trials:
            self._ot_trials[trial_id].report(result[METRIC], result["step"])  # at the optimizer step, as in process

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        from optuna.trial import TrialState

        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        trial = self._ot_trials[trial_id]
        trial.set_user_attr("settings", self.study_space.settings(trial.params).record())
        trial.set_user_attr("executor", "ray")
        result = result or {}
        value, state = None, TrialState.COMPLETE
        if error or result.get("error"):
            reason = result.get("error") or ("the Ray Tune trial failed: its worker raised or died (out of memory?); "
                                             "Ray's log of the trial says why")
            trial.set_user_attr("error", reason)
            state = TrialState.FAIL
            log.warning("  trial %d FAILED: %s; recorded as failed, the study goes on", trial.number, reason)
        elif not result.get("finished"):
            trial.set_user_attr("pruned_at", result.get("step"))
            trial.set_user_attr("steps_trained", result.get("step"))
            state = TrialState.PRUNED
            log.info("  trial %d pruned by ASHA at step %s (best so far %.4f)", trial.number, result.get("step"),
                     result.get(METRIC, float("nan")))
        else:
            value = result[METRIC]
            for name in ("steps_trained", "best_step", "stopped_early", "seconds"):
                trial.set_user_attr(name, result[name])
            log.info("  trial %d: validation macro F1 %.4f (best step %d of %d) in %.0f s", trial.number, value,
                     result["best_step"], result["steps_trained"], result["seconds"])
        self._ot_study.tell(trial, value, state=state)
        self._completed_trials.add(trial_id)


def run_on_ray(study, space: StudySpace, data: TrialData, parts: dict, remaining: int, deadline: float | None,
               pruner: str, train: TrainConfig, options: RayOptions) -> None:
    """``remaining`` Ray Tune trials into ``study`` (fewer when no trial may start any more)."""
    import ray
    from ray import tune

    from benchmark.running.compute import determinism_env
    from benchmark.running.executors import thread_env
    if remaining <= 0:
        return
    started_here = not ray.is_initialized()
    if started_here:
        env = {**thread_env(options.threads), **determinism_env(),
               "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        ray.init(**({"address": options.address} if options.address else
                    {"num_cpus": options.workers, "include_dashboard": False}),
                 runtime_env={"env_vars": env})
    try:
        cpus = ray.cluster_resources().get("CPU", 1)
        concurrency = options.concurrency or max(1, int(cpus // options.threads))
        scheduler = None
        if pruner != "none":
            from ray.tune.schedulers import ASHAScheduler

            # max_t past the budget: a trial at its last check has not been stopped, it finishes and says so
            scheduler = ASHAScheduler(time_attr="step", metric=METRIC, mode="max", max_t=train.steps + 1,
                                      grace_period=train.eval_every, reduction_factor=3)
        searcher = ConcurrencyLimiter(StudySearch(space, study, deadline, pruner), max_concurrent=concurrency)
        trainable = tune.with_resources(tune.with_parameters(_trial, space=space, data=data, parts=parts),
                                        {"cpu": options.threads})
        log.info("on Ray Tune: %d trial(s), %d at a time, %d thread(s) each, on %.0f CPUs%s", remaining, concurrency,
                 options.threads, cpus, ", ASHA at the validation checks" if scheduler else "")
        tuner = tune.Tuner(trainable, tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler,
                                                                  num_samples=remaining),
                           run_config=tune.RunConfig(name=f"{study.study_name}-{int(time.time())}",
                                                     storage_path=options.storage, verbose=0,
                                                     failure_config=tune.FailureConfig(max_failures=0)))
        tuner.fit()
    finally:
        if started_here:
            ray.shutdown()
