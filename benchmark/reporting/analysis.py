"""The report's data model: everything a grid's report says, read from the run store and computed, with
no Markdown (``tables``, ``narrative``, ``shift_sections`` and ``report`` render it).

:func:`read_grid` gathers from one grid: the tidy table (``benchmark.reporting.tidy``), the summary over
seeds, the paired tests, the average ranks, the evaluations of saved models (the grid's own test part,
prior correction and the external test sets named) and who computed them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchmark.metrics.comparisons import BOOT_SEED, MARKS, N_BOOT, compare_cells
from benchmark.metrics.ranks import RankAnalysis, rank_analyses
from benchmark.metrics.stats import t_interval
from benchmark.reporting.tidy import extra_metrics, load_grid, reported_macro
from benchmark.store import PRIOR_CORRECTED, GridStore
from benchmark.tasks import Task, task_of

FEW_TEST_BEATS = 30  # below this, a class's F1 rests on a handful of beats
INTER_PATIENT = ("inter", "inter_ds2")  # the splits the inter-patient literature's form is the primary score of


@dataclass(frozen=True)
class Score:
    """A grid's primary score: the tidy column its tables, bold cells, tests and ranks read, in words, and
    the class indices its macro F1 averages over (None: every class of the task)."""

    column: str
    label: str
    classes: tuple[int, ...] | None = None
    why: str = ""  # why it is not the task's plain macro F1 (empty when it is)


def primary_score(split: str, task: Task) -> Score:
    """Macro F1 over the task's reported classes on an inter-patient split (aami5: N, S, V, F, the form the
    inter-patient literature reports; its test part holds 7 Q beats and its training part 8, too few for a
    class that macro F1 weighs like the others), macro F1 over every class elsewhere."""
    macro = reported_macro(task)
    if split in INTER_PATIENT and macro:
        left_out = [c for c in task.classes if c not in task.reported]
        return Score(macro, f"macro F1 ({' '.join(task.reported)})",
                     tuple(task.classes.index(c) for c in task.reported),
                     f"the inter-patient literature's form (de Chazal et al. 2004 and after), which leaves "
                     f"{' and '.join(left_out)} out: it has too few beats in this split to be scored")
    return Score("macro_f1", "macro F1")


def summary_metrics(task: Task) -> list[str]:
    """The tidy table's columns the summary gives a mean and standard deviation of, for ``task``."""
    macro = reported_macro(task)
    return ["macro_f1", *[f"recall_{c}" for c in task.classes], "accuracy", "balanced_accuracy",
            "best_val_macro_f1", *[f"precision_{c}" for c in task.reported], *([macro] if macro else []),
            *extra_metrics(task)]


def summarise(runs: pd.DataFrame, models: list[str], resamplers: list[str], task: Task,
              score: Score | None = None) -> pd.DataFrame:
    """Mean, sample standard deviation and 95% t interval (macro F1 and the primary ``score``, as
    ``score_*``; default macro F1) over seeds for every (model, resampler) that has runs; the best cell of
    each model by the primary score."""
    score = score or Score("macro_f1", "macro F1")
    out, fallen = [], []  # fallen: whether each row's cell has a collapsed run (a collapse is no one's best)
    for model in models:
        for resampler in resamplers:
            cell = runs[(runs.model == model) & (runs.resampler == resampler)] if len(runs) else runs
            if not len(cell):
                continue
            fallen.append(bool(cell["collapsed"].any()) if "collapsed" in cell else False)
            row = {"model": model, "resampler": resampler, "n_seeds": len(cell)}
            for m in summary_metrics(task):
                row[f"{m}_mean"] = float(cell[m].mean())
                row[f"{m}_std"] = float(cell[m].std(ddof=1)) if len(cell) > 1 else float("nan")
            interval = t_interval(cell["macro_f1"])
            row["macro_f1_ci_low"], row["macro_f1_ci_high"] = interval or (float("nan"), float("nan"))
            row["score_mean"], row["score_std"] = row[f"{score.column}_mean"], row[f"{score.column}_std"]
            interval = t_interval(cell[score.column])
            row["score_ci_low"], row["score_ci_high"] = interval or (float("nan"), float("nan"))
            out.append(row)
    summary = pd.DataFrame(out)
    if len(summary):
        standing = summary["score_mean"].where(~pd.Series(fallen, index=summary.index))
        best = standing.groupby(summary["model"]).transform("max")
        summary["best_for_model"] = standing == best
    return summary


@dataclass
class SavedGrid:
    """Everything the report needs, read from one grid of the run store."""

    store: GridStore
    manifest: dict
    task: Task
    runs: pd.DataFrame
    errors: dict[str, str]  # run_id -> why it has no result
    failed: dict[str, str]  # the runs of ``errors`` that failed, and why
    metrics: dict[str, dict]
    summary: pd.DataFrame
    comparisons: pd.DataFrame | None
    no_comparisons: str  # why there are no paired tests, when there are none
    ranks: dict[str, RankAnalysis]  # average ranks of the resamplers and of the models
    predictions: dict  # run_id -> predicted class of every test beat
    y_true: np.ndarray
    evaluations: dict  # test set -> (labels, records, samples, {run_id: predictions}), from `evaluate`
    about: dict  # test set -> who scored the saved models on it (command, commit, machine)
    reproduction: pd.DataFrame | None  # `evaluate --on test`: per run, whether its saved model reproduced it
    score: Score = Score("macro_f1", "macro F1")  # the primary score (:func:`primary_score`)
    held_back: dict = field(default_factory=dict)  # seed -> (its finished runs, its runs): a seed not yet complete
    all_runs: pd.DataFrame | None = None  # every finished run, those of ``held_back`` seeds too (what they cost)
    boot_seed: int = BOOT_SEED  # of every paired bootstrap of the report (its verdicts do not depend on it)

    @property
    def split(self) -> str:
        return self.manifest.get("split", self.store.split)

    @property
    def models(self) -> list[str]:
        return self.manifest["models"]

    @property
    def resamplers(self) -> list[str]:
        return self.manifest["resamplers"]

    def cell(self, model: str, resampler: str):
        found = self.summary[(self.summary.model == model) & (self.summary.resampler == resampler)] \
            if len(self.summary) else self.summary
        return found.iloc[0] if len(found) else None


def seed_of(run_id: str) -> int:
    """The seed in a run id (``<model>__<treatment>__seed<k>__<hash>``)."""
    return int(run_id.split("__")[2].removeprefix("seed"))


def complete_seeds(manifest: dict, runs: pd.DataFrame, failed) -> tuple[list[int], dict[int, tuple[int, int]]]:
    """(the seeds every run of which has ended, finished or failed; {seed: (finished runs, runs)} of the seeds
    begun but not complete)."""
    planned: dict[int, set] = {}
    for run_id in manifest.get("runs", []):
        planned.setdefault(seed_of(run_id), set()).add(run_id)
    finished = set(runs["run_id"]) if len(runs) else set()
    ended = finished | set(failed)
    complete = sorted(s for s, ids in planned.items() if ids <= ended)
    begun = {s: (len(ids & finished), len(ids)) for s, ids in planned.items() if s not in complete and ids & finished}
    return complete, begun


def read_grid(store: GridStore, n_boot: int = N_BOOT, compare: bool = True,
              external: tuple[str, ...] = (), boot_seed: int = BOOT_SEED) -> SavedGrid:
    """``external``: the external test sets whose evaluations to read (the caller names them from
    ``benchmark.external``, which renders them; the data model stays independent of that registry)."""
    tidy = load_grid(store)
    runs, manifest = tidy.runs, tidy.manifest
    task = task_of(manifest)
    all_runs = runs
    complete, begun = complete_seeds(manifest, runs, tidy.failed)
    held_back = begun if complete and begun else {}  # a seed is read once every cell has run it: no table mixes
    if held_back:  # cells of two seeds with cells of one (the campaign runs seed by seed)
        runs = runs[runs.seed.isin(complete)].reset_index(drop=True)
    score = primary_score(manifest.get("split", store.split), task)
    if len(runs):
        runs["score"] = runs[score.column]  # what the ranks and the diagrams order by
    summary = summarise(runs, manifest["models"], manifest["resamplers"], task, score)
    comparisons, why = None, ""
    missing = [r for r in runs.get("run_id", []) if r not in tidy.predictions]
    if not compare:
        why = "not computed"
    elif not len(runs):
        why = "no finished runs"
    elif missing:
        why = (f"{len(missing)} of {len(runs)} runs have no saved test predictions (runs trained before "
               f"predictions were saved); rerun them with --overwrite to enable paired tests")
    else:
        comparisons = compare_cells(runs, summary, tidy.predictions, tidy.y_true, manifest["models"],
                                    manifest["resamplers"], n_boot=n_boot, groups=tidy.records,
                                    n_classes=task.n_classes, seed=boot_seed, classes=score.classes)
    ranks = rank_analyses(runs, manifest["models"], manifest["resamplers"], score.column)
    evaluated = (PRIOR_CORRECTED, *external)
    evaluations = {name: e for name in evaluated if (e := store.evaluation(name)) is not None}
    about = {name: a for name in ("test", *evaluated) if (a := store.evaluation_about(name))}
    path = store.evaluation_path("test")
    reproduction = pd.read_csv(path) if path.exists() else None
    return SavedGrid(store, manifest, task, runs, tidy.errors, tidy.failed, tidy.metrics, summary, comparisons, why,
                     ranks, tidy.predictions, tidy.y_true, evaluations, about, reproduction, score, held_back,
                     all_runs, boot_seed)


COLLAPSED = " †"  # how a table marks a cell with a collapsed run (benchmark.metrics.collapse)


def collapsed_cells(g: SavedGrid) -> dict[tuple[str, str], list[tuple[int, str]]]:
    """{(model, resampler): [(seed, why), ...]} of every cell with a collapsed run."""
    out: dict = {}
    if len(g.runs) and "collapsed" in g.runs:
        for r in g.runs[g.runs.collapsed].itertuples():
            out.setdefault((r.model, r.resampler), []).append((int(r.seed), r.collapse_reason))
    return out


def collapse_mark(g: SavedGrid, model: str, resampler: str) -> str:
    return COLLAPSED if (model, resampler) in collapsed_cells(g) else ""


def cell_marks(g: SavedGrid) -> dict[tuple[str, str], str]:
    """▲ / ▼ for cells significantly better / worse than the same model without resampling."""
    if g.comparisons is None or not len(g.comparisons):
        return {}
    vs_none = g.comparisons[g.comparisons.family == "resampler vs none"]
    return {(r.model_a, r.resampler_a): MARKS.get(r.verdict, "") for r in vs_none.itertuples()}


def rare_classes(g: SavedGrid, n: int = 2) -> list[str]:
    """The ``n`` reported classes with the fewest training beats, leaving out the most frequent one, in
    class order (aami5: S and F): the ones whose recall the reading quotes."""
    counts = g.manifest.get("class_counts", {}).get("train", {})
    candidates = [c for c in g.task.reported if c in counts]
    if not candidates:
        return list(g.task.reported[1:1 + n])
    commonest = max(candidates, key=counts.get)
    chosen = sorted((c for c in candidates if c != commonest), key=counts.get)[:n]
    return [c for c in g.task.classes if c in chosen]
