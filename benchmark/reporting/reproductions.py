"""The published systems' presets (``benchmark.config.PRESETS``) beside the figures they published
(``benchmark.literature.PUBLISHED_SYSTEMS``): the reproduction section of a results folder's overview.

For every finished run of a preset grid, on every split it ran on, the table gives:
- the published figure in its own metric, and ours in the same metric, with a 95% percentile interval
  over resamples of the test records (the patients);
- macro F1 and the per-class recall;
- the budget against the preset's own, a shortened one named with its share.

Each verdict is computed from the interval and the published figure's low end (a range's lower bound), where
the figure is comparable with ours (same metric, same kind of test part: ``PublishedSystem.not_comparable``
says why not, and the verdict is then "not comparable"):
- **reached**: the interval lies at or above it;
- **below**: the interval lies under it; at the preset's own budget the claim does not hold under this
  protocol, and at a shortened budget it is not settled;
- **within**: the interval spans it.

A run that collapsed onto few classes (``benchmark.metrics.collapse``) gets no verdict: its accuracy is the
majority class's share and its majority recall is near 1 by default, neither of them skill. Every accuracy
stands beside the trivial classifier's (every beat called the majority class) on the same test part.

A project's qualitative claims (``PublishedSystem.claims``) are scored on the preset grid's runs with the
record-level paired bootstrap of the grid reports, Holm-adjusted within the claim: it *holds* where every
comparison is a significant gain, is *contradicted* where any is a significant loss, and is *not shown*
otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.config import PRESETS
from benchmark.literature import Claim, published_system
from benchmark.metrics.comparisons import decide
from benchmark.metrics.evaluator import metric_of
from benchmark.metrics.stats import record_interval
from benchmark.reporting.analysis import SavedGrid
from benchmark.reporting.shifts import cells_of, paired_test

N_BOOT, BOOT_SEED = 2000, 0  # the interval's resamples and seed: a run's interval never changes
OWN_BUDGET = "its own hyperparameters (a scikit-learn model: no step budget)"
COLLAPSED = "collapsed: no reading"  # a run predicting few classes reaches a recall or an accuracy by default
REPRODUCTIONS_CSV = "reproductions.csv"  # beside the overview: every row of its reproduction table
ACCURACY_NOTE = {"resnet_smote_enn_cyclical": "published on the validation part; ours on the test part (the "
                                                "validation part picks the weights here, so its score is no test)"}


def preset_grids(grids: list[SavedGrid]) -> list[SavedGrid]:
    """The grids among ``grids`` that run a preset of a published system."""
    return [g for g in grids if g.manifest.get("grid") in PRESETS and published_system(g.manifest["grid"])]


def budget_words(manifest: dict) -> tuple[str, bool]:
    """How the grid's training differs from its preset's own (words), and whether its budget was shortened."""
    own = PRESETS[manifest["grid"]].train.as_dict()
    train, subset = manifest["train"], (manifest.get("data") or {}).get("subset")
    steps = train.get("steps", own["steps"])
    shortened = steps < own["steps"] or bool(subset)
    words = [f"{steps:,} of {own['steps']:,} steps ({100 * steps / own['steps']:.2g}%)" if steps != own["steps"]
             else f"the preset's own {steps:,} steps"]
    words += [f"{k} {train[k]} (preset {own[k]})" for k in own if k != "steps" and k in train and train[k] != own[k]]
    if subset:
        words.append(f"a subset of {subset} beats (train, validation, test)")
    return "; ".join(words), shortened


def verdict(low: float, high: float, published_low: float, shortened: bool) -> str:
    """Reached, below or within (module docstring), for a figure our runs can test."""
    if low >= published_low:
        return "reached"
    if high < published_low:
        return "below at a shortened budget: not settled" if shortened else "below: does not hold here"
    return "within"


NOT_COMPARABLE = "not comparable"


def trivial_accuracy(y: np.ndarray, classes: tuple[str, ...]) -> tuple[str, float]:
    """(the majority class, the accuracy of calling every test beat it): the floor an accuracy stands beside."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=len(classes))
    return classes[int(counts.argmax())], float(counts.max() / counts.sum())


def score_claim(g: SavedGrid, claim: Claim, seed: int = BOOT_SEED) -> dict:
    """One claim on one preset grid (module docstring): its verdict, and each comparison's difference."""
    other = {"model": "resampler", "resampler": "model"}[claim.over]
    cells = cells_of(g.runs, g.predictions)  # {(model, resampler): {seed: predictions}}
    def cell(member, block):
        return cells.get((member, block) if claim.over == "model" else (block, member), {})

    records = g.store.test_records()
    tests = [t for block in dict.fromkeys(g.runs[other]) for rival in claim.than
             if (t := paired_test({"block": block, "rival": rival}, g.y_true, records, cell(claim.better, block),
                                  cell(rival, block), g.task.n_classes, g.score.classes)) is not None]
    table = decide(tests, seed) if tests else pd.DataFrame()
    if table.empty:
        return {"claim": claim.words, "verdict": "not scored: no pair of cells ran", "tests": table}
    gains, losses = int((table.verdict == "gain").sum()), int((table.verdict == "loss").sum())
    word = ("contradicted" if losses else "holds" if gains == len(table) else "not shown")
    return {"claim": claim.words, "verdict": word, "gains": gains, "losses": losses, "tests": table,
            "seeds": int(table.n_seeds.max())}


@dataclass
class Reproductions:
    table: pd.DataFrame  # one row per run and published metric
    markdown: list[str]  # the overview's section


def reproductions(grids: list[SavedGrid], n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> Reproductions | None:
    """The reproduction table of every preset grid among ``grids`` (the overview's, already read; module
    docstring); None when none is."""
    every = preset_grids(grids)
    if not every:
        return None
    presets = [g for g in every if not g.runs.empty]  # a grid started, no run finished yet: no reading
    # a preset that cannot run on a split (the CNN-LSTM's mixture on inter's 8 Q beats) says so and why
    failures = [(g.manifest["grid"], g.store.split, g.store.failure(run_id))
                for g in every for run_id in sorted(g.failed)]
    rows, recall_rows = [], []
    for g in presets:
        manifest, task, store = g.manifest, g.task, g.store
        system, records = published_system(manifest["grid"]), store.test_records()
        groups = records if records is not None else np.arange(len(g.y_true))
        unit = "records" if records is not None else "beats (no records kept)"
        budget, shortened = budget_words(manifest)
        subset = bool((manifest.get("data") or {}).get("subset"))
        majority, floor = trivial_accuracy(g.y_true, task.classes)
        for _, run in g.runs.sort_values(["model", "resampler", "seed"]).iterrows():
            pred = g.predictions.get(run.run_id)
            if pred is None:
                continue
            own = "budget" in g.metrics[run.run_id]  # a scikit-learn model: its hyperparameters are its budget
            run_budget, run_shortened = (OWN_BUDGET, subset) if own else (budget, shortened)
            for column in system.ours:
                value, low, high = record_interval(g.y_true, pred, groups, metric_of(column, task.classes),
                                                   len(task.classes), n_boot, seed)
                rows.append({"preset": manifest["grid"], "split": store.split, "grid": store.name,
                             "model": run.model, "resampler": run.resampler, "seed": run.seed,
                             "published_metric": system.metric, "published": system.value,
                             "published_low": system.bounds[0] if system.bounds else np.nan,
                             "published_high": system.bounds[1] if system.bounds else np.nan,
                             "ours_metric": column, "ours": value, "ci_low": low, "ci_high": high,
                             "interval_unit": unit,
                             "verdict": COLLAPSED if run.collapsed else
                             NOT_COMPARABLE if system.not_comparable else
                             verdict(low, high, system.bounds[0], run_shortened),
                             "trivial_accuracy": floor if column == "accuracy" else np.nan,
                             "trivial_class": majority,
                             "macro_f1": run.macro_f1, "budget": run_budget, "shortened": run_shortened,
                             "steps_trained": run.steps_trained, "collapsed": bool(run.collapsed),
                             "run_id": run.run_id})
            recall_rows.append({"preset": manifest["grid"], "split": store.split, "model": run.model,
                                "resampler": run.resampler, "seed": run.seed, "macro_f1": run.macro_f1,
                                **{c: run[f"recall_{c}"] for c in task.classes}})
    table = pd.DataFrame(rows)
    claims = [(g, score_claim(g, claim, seed)) for g in presets
              for claim in published_system(g.manifest["grid"]).claims]
    return Reproductions(table, _markdown(table, recall_rows, presets, failures) + _claim_lines(claims))


def _fmt(value: float, column: str) -> str:
    """A reading as its project would write it: accuracy and recall in percent, an F1 as a fraction."""
    return f"{value:.3f}" if column.endswith("f1") else f"{100 * value:.1f}%"


def _metric_words(column: str) -> str:
    """``macro_f1`` → ``macro F1``, ``recall_abnormal`` → ``recall abnormal``: as the published column says it."""
    return column.replace("_f1", " F1").replace("_", " ")


def _failure_lines(failures: list[tuple[str, str, dict]]) -> list[str]:
    """One line per failed preset run (preset, split, the run's failure record): no reading, and the reason
    its run gave."""
    lines = [f"- `{preset}` on {split}: no reading, {f['model']} / {f['resampler']} failed: {f['error']}"
             for preset, split, f in failures]
    return lines + ([""] if lines else [])


def _markdown(table: pd.DataFrame, recall_rows: list[dict], presets: list[SavedGrid],
              failures: list[tuple[str, str, dict]] = ()) -> list[str]:
    from tabulate import tabulate

    if table.empty:
        return ["## The published systems, reproduced", "", "No preset run has finished yet.", "",
                *_failure_lines(failures)]
    rows = []
    for _, r in table.iterrows():
        ours = f"{_fmt(r.ours, r.ours_metric)} [{_fmt(r.ci_low, r.ours_metric)}, {_fmt(r.ci_high, r.ours_metric)}]"
        if r.ours_metric == "accuracy":
            ours += f"; all-{r.trivial_class}: {_fmt(r.trivial_accuracy, 'accuracy')}"
        note = ACCURACY_NOTE.get(r.preset, "") if r.ours_metric == "accuracy" else ""
        rows.append([f"`{r.preset}`", r.split, f"{r.model} / {r.resampler}", f"{r.published_metric}: {r.published}",
                     f"{_metric_words(r.ours_metric)}: {ours}" + (" (collapsed)" if r.collapsed else ""),
                     r.verdict, f"{r.macro_f1:.3f}", r.budget + (f"; {note}" if note else "")])
    lines = ["## The published systems, reproduced", "",
             "Each preset grid (`--grid <preset>`) configures a published system as it was published. Beside its "
             "figure, in its own metric, is ours in the same metric on the split's test part. The interval is "
             "95%, over resamples of the test records (the patients). Verdict: *reached* when the interval lies "
             "at or above the published figure (a range's low end); *below* when it lies under it; *within* when "
             "it spans it. Below at a shortened budget is not settled. A collapsed run (predicting few classes) "
             "gets no verdict: its accuracy and its majority recall are there by default. *Not comparable*: the "
             "published figure is not one our runs can test (why, below the table). Every accuracy stands beside "
             "the trivial classifier's that calls every test beat the majority class (all-N, all-normal) on the "
             "same test part.", "",
             tabulate(rows, headers=["preset", "split", "model / treatment", "published", "ours (95% interval)",
                                     "verdict", "macro F1", "budget"], tablefmt="github", disable_numparse=True),
             ""]
    by_classes: dict[tuple, list] = {}
    for r in recall_rows:
        classes = tuple(k for k in r if k not in ("preset", "split", "model", "resampler", "seed", "macro_f1"))
        by_classes.setdefault(classes, []).append(
            [f"`{r['preset']}`", r["split"], f"{r['model']} / {r['resampler']}", r["seed"], f"{r['macro_f1']:.3f}",
             *[f"{r[c]:.2f}" for c in classes]])
    for classes, body in by_classes.items():
        lines += [f"Macro F1 and recall per class ({', '.join(classes)}) of the same runs:", "",
                  tabulate(body, headers=["preset", "split", "model / treatment", "seed", "macro F1",
                                          *[f"recall {c}" for c in classes]], tablefmt="github",
                           disable_numparse=True), ""]
    lines += ["What holds:", ""]
    for (preset, split), counts in table.groupby(["preset", "split"]).verdict:
        lines.append(f"- `{preset}` on {split}: "
                     + ", ".join(f"{v} ({n})" for v, n in sorted(counts.value_counts().items())))
    lines.append("")
    for preset in dict.fromkeys(table.preset):
        system = published_system(preset)
        if system.not_comparable:
            lines.append(f"- `{preset}` not comparable: {system.not_comparable}.")
        if system.bounds and "accuracy" in system.ours:
            rows_ = table[(table.preset == preset) & (table.ours_metric == "accuracy")]
            for split, r in rows_.groupby("split").first().iterrows():
                lines.append(f"- `{preset}`: its published {system.metric} ({system.value}) against the all-"
                             f"{r.trivial_class} classifier's {_fmt(r.trivial_accuracy, 'accuracy')} on our {split} "
                             f"test part: {100 * (system.bounds[0] - r.trivial_accuracy):+.1f} points.")
    lines += _failure_lines(failures) or [""]  # in the same list, ending with its blank line
    commits = sorted({g.manifest.get("provenance", {}).get("commit", "?") for g in presets})
    lines += [f"Grids: {', '.join(f'`{g.store.split}/{g.store.name}`' for g in presets)}; trained at "
              f"{', '.join(f'`{c}`' for c in commits)} (each grid's REPORT.md has its command and machine).", ""]
    return lines


def _claim_lines(claims: list[tuple[SavedGrid, dict]]) -> list[str]:
    """The projects' qualitative claims, each scored on a preset grid (module docstring)."""
    if not claims:
        return []
    lines = ["The projects' own claims, scored on their preset grids (record-level paired bootstrap of each grid's "
             "primary score, Holm-adjusted within the claim):", ""]
    for g, c in claims:
        where = (f"`{g.manifest['grid']}` on {g.store.split} (`{g.store.split}/{g.store.name}`, "
                 f"{budget_words(g.manifest)[0]})")
        if c["tests"].empty:
            lines.append(f"- \"{c['claim']}\" — {where}: {c['verdict']}.")
            continue
        diffs = ", ".join(f"{r.block}: {r.difference:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}] {r.verdict}"
                          + (f" vs {r.rival}" if len(set(c['tests'].rival)) > 1 else "")
                          for r in c["tests"].itertuples())
        one = "; one seed: each comparison is of two training runs" if c["seeds"] == 1 else ""
        counts = ", ".join(f"{n} {word if n == 1 else word + 'es' if word.endswith('s') else word + 's'}"
                           for n, word in ((c["gains"], "gain"), (c["losses"], "loss")))
        lines.append(f"- \"{c['claim']}\" — {where}: **{c['verdict']}** ({counts} in {len(c['tests'])} "
                     f"comparisons, {g.score.label}{one}): {diffs}.")
    return lines + [""]
