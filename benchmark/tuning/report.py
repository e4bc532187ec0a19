"""What a tuning study writes beside its SQLite file: ``TUNING.md`` (the best trial against the untuned one,
the optimisation history and parameter importances as figures, the shortcut's rank agreement, failures and
provenance), ``trials.csv`` (every trial's settings, pruning step and validation score), ``confirmations.csv``
for the shortcut, and ``best_params.json``, the tuned settings a grid takes (``--params``).

Written from the study in storage, so a resumed or interrupted study's report covers every trial it holds.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.files import write_text
from benchmark.search_space import rounded
from benchmark.store import StudyStore
from benchmark.tuning.space import StudySpace

log = logging.getLogger(__name__)
OBJECTIVE = "validation macro F1 (the best check of each trial; the test part is never used)"


def trial_value(trial) -> float:
    """A trial's validation macro F1: its result when completed, its best check so far when pruned."""
    if trial.value is not None:
        return float(trial.value)
    if trial.intermediate_values:
        return float(trial.intermediate_values[max(trial.intermediate_values)])
    return float("nan")


def trials_frame(study, space: StudySpace) -> pd.DataFrame:
    """One row per trial: number, state, validation macro F1, pruning step, steps, time, what went wrong,
    and its settings (every dimension, the pinned values, and the treatment it trained on)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        state = t.state.name
        attrs = t.user_attrs
        rows.append({"number": t.number, "state": state, "value": trial_value(t) if state != "FAIL" else np.nan,
                     "pruned_at_step": attrs.get("pruned_at"), "steps_trained": attrs.get("steps_trained"),
                     "best_step": attrs.get("best_step"), "seconds": attrs.get("seconds"),
                     "error": attrs.get("error") or attrs.get("interrupted") and f"interrupted: {attrs['interrupted']}",
                     "retry_of": attrs.get("retry_of"), "executor": attrs.get("executor"),
                     "resampler": attrs.get("settings", {}).get("resampler"),
                     **{k: rounded(t.params.get(k)) for k in space.dimensions}, **space.fixed})
    columns = ["number", "state", "value", "pruned_at_step", "steps_trained", "best_step", "seconds", "error",
               "retry_of", "executor", "resampler", *space.dimensions, *space.fixed]
    return pd.DataFrame(rows, columns=columns)


def best_trial(study):
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return min(complete, key=lambda t: (-t.value, t.number)) if complete else None


def untuned_trial(study, space: StudySpace):
    """The first finished trial at the untuned point (the study's first, for TPE; a grid's point for grids)."""
    from optuna.trial import TrialState

    point = space.default_point()
    return next((t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
                 if t.params == point), None)


def rank_agreement(pairs: list[tuple[float, float]]) -> dict:
    """Spearman's ρ and Kendall's τ between the cheap and the full treatment's scores of the same points."""
    from scipy.stats import kendalltau, spearmanr

    if len(pairs) < 3:
        return {"n": len(pairs)}
    cheap, full = zip(*pairs)
    if len(set(cheap)) < 2 or len(set(full)) < 2:
        return {"n": len(pairs)}
    return {"n": len(pairs), "spearman": float(spearmanr(cheap, full).statistic),
            "kendall": float(kendalltau(cheap, full).statistic)}


def confirmations_frame(search, confirm) -> pd.DataFrame:
    by_number = {t.number: t for t in search.get_trials(deepcopy=False)}
    rows = []
    for t in confirm.get_trials(deepcopy=False):
        origin = by_number.get(t.user_attrs.get("search_trial"))
        if origin is None or "interrupted" in t.user_attrs:  # an interrupted one is tried again: its retry counts
            continue
        rows.append({"search_trial": origin.number, "cheap_value": trial_value(origin), "trial": t.number,
                     "state": t.state.name, "full_value": trial_value(t) if t.state.name == "COMPLETE" else np.nan,
                     "error": t.user_attrs.get("error") or t.user_attrs.get("interrupted"), **origin.params})
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["cheap_rank"] = frame.cheap_value.rank(ascending=False, method="min")
        frame["full_rank"] = frame.full_value.rank(ascending=False, method="min")
    return frame


def importances(study) -> tuple[dict, str]:
    """(fANOVA importances of the dimensions over the completed trials, seeded; why there are none)."""
    import optuna

    try:
        found = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    except (ValueError, RuntimeError) as exc:
        return {}, f"not computed: {str(exc).rstrip('.')}"
    if not found:
        return {}, "not computed: the completed trials do not vary any dimension"
    return found, ""


def _point_rows(space: StudySpace, point: dict, other: dict | None) -> list[str]:
    rows = ["| parameter | tuned | untuned |", "|---|---|---|"]
    for name in space.dimensions:
        rows.append(f"| `{name}` | {_fmt(point.get(name))} | {_fmt((other or space.default_point()).get(name))} |")
    for name, value in space.fixed.items():
        rows.append(f"| `{name}` (fixed) | {_fmt(value)} | {_fmt(value)} |")
    return rows


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _hours(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600} h {seconds % 3600 // 60} min" if seconds >= 3600 else \
        f"{seconds // 60} min {seconds % 60} s"


def grid_command(request, path: Path) -> str:
    """The command that runs the grid's cell with the tuned settings, at the study's budget."""
    from benchmark.config import GRIDS

    grid = request.grid
    preset = GRIDS.get(grid.name)
    parts = ["python run_benchmark.py", f"--grid {grid.name}", f"--models {request.model}",
             f"--resamplers '{request.resampler}'", f"--split {grid.data.split}"]
    if preset is None or grid.data.task != preset.data.task:
        parts.append(f"--task {grid.data.task}")
    own = preset.train if preset is not None else None
    for name, flag in (("steps", "--steps"), ("eval_every", "--eval-every"), ("patience", "--patience")):
        if own is None or getattr(grid.train, name) != getattr(own, name):
            parts.append(f"{flag} {getattr(grid.train, name)}")
    inputs, own_inputs = grid.data.inputs, preset.data.inputs if preset is not None else None
    if inputs.samples and (own_inputs is None or inputs.samples != own_inputs.samples):
        parts.append(f"--truncate {inputs.samples}")
    if inputs.beat_stats and not (own_inputs and own_inputs.beat_stats):
        parts.append("--beat-stats")
    if inputs.rr and not (own_inputs and own_inputs.rr):
        parts.append("--rr")
    return " ".join([*parts, f"--seeds {request.seed}", f"--params {path}"])


def write_study_report(store: StudyStore, study, confirm, request, space: StudySpace, identity: dict,
                       about: dict) -> list[Path]:
    """TUNING.md, trials.csv (and confirmations.csv), the figures and best_params.json; the paths written."""
    from benchmark.files import write_json
    from benchmark.reporting.figures import optimisation_history, parameter_importances
    from benchmark.tuning.params import params_payload, write_params

    written = []
    frame = trials_frame(study, space)
    frame.to_csv(store.file("trials.csv"), index=False)
    written.append(store.file("trials.csv"))
    grid = request.grid
    counts = frame.state.value_counts().to_dict()
    interrupted = int(frame.error.fillna("").astype(str).str.startswith("interrupted").sum())
    failed = int(counts.get("FAIL", 0)) - interrupted
    title = f"{request.model} × {request.resampler}, {grid.data.split} split"
    lines = [f"# Tuning: {title}", "",
             f"Study `{store.name}`, every trial in `{store.database.name}` beside this file; the same command "
             "resumes it (a trial stopped by a kill or Ctrl-C is tried again first). Objective: " + OBJECTIVE + ".",
             "", "| | |", "|---|---|",
             f"| model | `{request.model}` |",
             f"| treatment | `{request.resampler}`" + (f", tuned on `{request.cheap_resampler}` and the best "
                                                      f"{request.confirm_top} points (and the untuned one) "
                                                      f"trained again on `{request.resampler}`"
                                                      if request.cheap_resampler else "") + " |",
             f"| data | {grid.data.split} split, task {grid.data.task}, input "
             f"{grid.data.inputs.tag() or 'the whole window'}" + (f", subset {grid.data.subset}" if grid.data.subset
                                                                 else "") + f"; data key `{identity['data_key']}` |",
             f"| budget per trial | {grid.train.steps:,} optimizer steps, validation every {grid.train.eval_every}, "
             f"patience {grid.train.patience} (grid `{grid.name}`), training seed {request.seed}; a fresh model "
             "per trial |",
             f"| sampler | {request.sampler}, seed {request.sampler_seed} (a session that resumes a study of n "
             "trials seeds it from (seed, n)) |",
             f"| pruner | {request.pruner}" + (" (on Ray Tune: ASHA)" if request.pruner != "none" else "") +
             ", at the validation checks, on the best score so far |",
             "| space | " + "; ".join(f"`{k}`: {v.describe()}" for k, v in space.dimensions.items()) + " |",
             "| fixed | " + ("; ".join(f"`{k}` = {_fmt(v)}" for k, v in space.fixed.items()) or "nothing") + " |",
             f"| trials | {counts.get('COMPLETE', 0) + counts.get('PRUNED', 0) + failed} finished of the {request.trials} "
             f"asked: {counts.get('COMPLETE', 0)} completed, {counts.get('PRUNED', 0)} pruned, {failed} failed; "
             f"{interrupted} interrupted (tried again) |",
             f"| time | {_hours(float(frame.seconds.fillna(0).sum()))} in the trials, summed |", ""]
    best, untuned = best_trial(study), untuned_trial(study, space)
    final_study, final_space = study, space
    if confirm is not None:  # the tuned settings are the full treatment's best
        final_space = StudySpace.build(request.model, request.resampler, grid.train, request.fixed)
        final_study = confirm
    final_best = best_trial(final_study)
    lines += ["## Best trial", ""]
    if best is None:
        lines += ["No trial has completed yet, so there are no tuned settings.", ""]
    else:
        untuned_words = "the untuned point has not finished" if untuned is None else \
            f"untuned (trial {untuned.number}): {trial_value(untuned):.4f}" + \
            (" when pruned" if untuned.state.name == "PRUNED" else "") + \
            f"; tuned − untuned = {best.value - trial_value(untuned):+.4f}"
        lines += [f"Trial {best.number}: validation macro F1 **{best.value:.4f}** ({untuned_words}).", "",
                  *_point_rows(space, best.params, None), ""]
    if confirm is not None:
        lines += confirmation_lines(study, confirm, request)
    if final_best is not None:
        settings = final_space.settings(final_best.params)
        record = settings.record()
        base = record["resampler"].partition("[")[0]
        source = {"study": store.name, "trial": final_best.number, "val_macro_f1": final_best.value,
                  "treatment": request.resampler, "model": request.model, "split": grid.data.split,
                  "task": grid.data.task, "data": grid.data.as_dict(), "seed": request.seed,
                  "budget": {k: getattr(grid.train, k) for k in ("steps", "eval_every", "patience")},
                  "commit": about.get("commit"), "command": about.get("command")}
        payload = params_payload(request.model, record["hyperparameters"], record["train"],
                                 {base: record["treatment"]} if record["treatment"] else {}, source)
        written.append(write_params(store.file("best_params.json"), payload))
        lines += [f"The tuned settings (trial {final_best.number}" + (f" of the confirmation on `{request.resampler}`"
                                                                       if confirm is not None else "") +
                  "): [`best_params.json`](best_params.json). A grid takes them, in a folder of its own "
                  "(`<grid>-tuned-<hash>`):", "", "```", grid_command(request, store.file("best_params.json")),
                  "```", ""]
    if final_best is not None and confirm is None:
        lines += params_run_lines(store, request, final_best, untuned)
    figures = store.file("figures")
    values = frame.assign(value=frame.value.astype(float))
    if len(frame):
        written.append(optimisation_history(values, figures / "history.png", f"{title}: optimisation history"))
        lines += ["## Optimisation history", "", "![optimisation history](figures/history.png)", ""]
    found, why = importances(study)
    lines += ["## Parameter importances", ""]
    if found:
        written.append(parameter_importances(found, figures / "importances.png", f"{title}: parameter importances"))
        lines += ["fANOVA over the completed trials (seed 0): the share of the validation score's variance each "
                  "dimension explains.", "", "![parameter importances](figures/importances.png)", ""]
    else:
        lines += [f"{why.capitalize()}.", ""]
    problems = frame[frame.state == "FAIL"]
    if len(problems):
        lines += ["## Failed and interrupted trials", ""]
        lines += [f"- trial {int(r.number)}: {r.error or 'no reason recorded'}" for r in problems.itertuples()]
        lines.append("")
    lines += ["## Trials", "", "Every trial's settings, state, pruning step and validation score: "
              "[`trials.csv`](trials.csv)" + (", the confirmations: [`confirmations.csv`](confirmations.csv)"
                                             if confirm is not None else "") + ".", ""]
    lines += provenance_lines(study, about)
    if confirm is not None:
        confirmations_frame(study, confirm).to_csv(store.file("confirmations.csv"), index=False)
        written.append(store.file("confirmations.csv"))
    write_text(store.file("TUNING.md"), "\n".join(lines))
    write_json(store.file("study.json"), {"identity": identity, "request": {
        "model": request.model, "resampler": request.resampler, "cheap_resampler": request.cheap_resampler,
        "trials": request.trials, "sampler": request.sampler, "sampler_seed": request.sampler_seed,
        "pruner": request.pruner, "fixed": request.fixed, "tune_treatment": request.tune_treatment}})
    return [store.file("TUNING.md"), store.file("study.json"), *written]


def _normal(value):
    return json.loads(json.dumps(value))


def params_runs(store: StudyStore, request) -> list[tuple[str, str, dict]]:
    """The runs of the study's model, treatment and seed, in the grids of this results folder and split that
    took the study's ``best_params.json`` (``--params``) at the study's budget: (grid folder, run id, metrics)."""
    from benchmark.store import RunStore
    from benchmark.tuning.params import read_params

    path = store.file("best_params.json")
    if not path.exists():
        return []
    wanted, grid = _normal(read_params(path)[0].as_dict()), request.grid
    budget = {k: getattr(grid.train, k) for k in ("steps", "eval_every", "patience")}
    found = []
    for other in RunStore(store.results_root).grids(grid.data.split):
        manifest = other.manifest()
        same_budget = {k: manifest["train"].get(k) for k in budget} == budget and \
            manifest["data"].get("subset") == _normal(grid.data.subset)
        if _normal(manifest.get("params")) != wanted or not same_budget:
            continue
        for run_id in manifest["runs"]:
            m = other.metrics(run_id)
            if m is not None and m["model"] == request.model and m["seed"] == request.seed and \
                    m["resampler"].partition("[")[0] == request.resampler.partition("[")[0]:
                found.append((other.name, run_id, m))
    return found


def params_run_lines(store: StudyStore, request, best, untuned) -> list[str]:
    """The tuned settings run by a grid (``--params``), against the untuned trial at the same budget."""
    runs = params_runs(store, request)
    lines = ["## The tuned settings, run by a grid", ""]
    if not runs:
        return lines + ["No grid of this results folder has run `best_params.json` at the study's budget yet "
                        "(the command above does; then the same `tune` command rewrites this report).", ""]
    for name, run_id, m in runs:
        value = m["best_val_macro_f1"]
        same = abs(value - best.value) <= 1e-6
        words = [f"`{name}/runs/{run_id}`: validation macro F1 **{value:.4f}**",
                 f"the best trial scored {best.value:.4f} (" + ("the same" if same else f"{value - best.value:+.4f} from it") + ")"]
        if untuned is not None:
            gap = value - trial_value(untuned)
            words.append(f"the untuned trial {trial_value(untuned):.4f}"
                         + (" when pruned" if untuned.state.name == "PRUNED" else "")
                         + f": tuned − untuned = {gap:+.4f}, "
                         + ("the tuned settings beat the untuned ones on validation" if gap > 0 else
                            "the tuned settings do not beat the untuned ones on validation"))
        lines.append("- " + "; ".join(words) + f" (test macro F1 {m['test']['macro_f1']:.4f}, never used to choose).")
    return lines + [""]


def confirmation_lines(search, confirm, request) -> list[str]:
    frame = confirmations_frame(search, confirm)
    lines = [f"## The shortcut: tuned on `{request.cheap_resampler}`, confirmed on `{request.resampler}`", ""]
    if not len(frame):
        return lines + ["No point has been confirmed yet.", ""]
    lines += [f"| search trial | on `{request.cheap_resampler}` | rank | on `{request.resampler}` | rank |",
              "|---|---|---|---|---|"]
    for r in frame.sort_values("cheap_rank").itertuples():
        full = "failed" if r.state == "FAIL" else "—" if np.isnan(r.full_value) else f"{r.full_value:.4f}"
        full_rank = "" if np.isnan(r.full_rank) else int(r.full_rank)
        lines.append(f"| {r.search_trial} | {r.cheap_value:.4f} | {int(r.cheap_rank)} | {full} | {full_rank} |")
    done = frame.dropna(subset=["full_value"])
    agreement = rank_agreement(list(zip(done.cheap_value, done.full_value)))
    if "spearman" in agreement:
        words = (f"Rank agreement over the {agreement['n']} points trained on both: Spearman's ρ = "
                 f"{agreement['spearman']:.2f}, Kendall's τ = {agreement['kendall']:.2f} (1: the cheap treatment "
                 "ranks them as the full one does; 0: no relation).")
    else:
        words = (f"Rank agreement: too few points trained on both with different scores ({agreement['n']}) "
                 "for a rank correlation.")
    return lines + ["", words, ""]


def provenance_lines(study, about: dict) -> list[str]:
    from benchmark.reporting.provenance_section import _machine_words

    versions = about.get("versions", {})
    libraries = ", ".join(f"{k} {v}" for k, v in versions.items() if k in ("python", "keras", "tensorflow", "jax",
                                                                          "optuna", "ray"))
    code = study.user_attrs.get("code", {})
    return ["## Provenance", "",
            f"- Command (this report's session): `{about.get('command', 'unknown')}`",
            f"- Commit: `{about.get('commit', 'unknown')}`; code digests when the study began: "
            + ", ".join(f"{k} `{v}`" for k, v in code.items()),
            f"- Machine: {_machine_words(about)}",
            f"- Libraries: {libraries}", ""]
