"""A grid's tables and sections in Markdown, rendered from the data model of
``benchmark.reporting.analysis`` (no file is read or written here); classes come from the grid's task.
"""
from __future__ import annotations

import numpy as np

from benchmark.metrics.comparisons import ALPHA
from benchmark.metrics.evaluator import DEFAULT_N_CLASSES, confusion_matrix, per_class_precision, per_class_recall
from benchmark.metrics.ranks import RankAnalysis
from benchmark.metrics.stats import CONFIDENCE
from benchmark.reporting.analysis import COLLAPSED, FEW_TEST_BEATS, SavedGrid, cell_marks, collapse_mark, collapsed_cells
from benchmark.reporting.provenance_section import provenance_section, validation_words
from benchmark.reporting.tidy import extra_metrics, reported_macro

METRIC_NAMES = {"sensitivity": "sensitivity", "specificity": "specificity", "auroc": "AUROC"}


def count_word(n: int) -> str:
    return {2: "two", 3: "three", 4: "four", 5: "five"}.get(n, str(n))


def _pm(mean: float, std: float) -> str:
    return f"{mean:.3f}" if np.isnan(std) else f"{mean:.3f} ± {std:.3f}"


def _ci(low: float, high: float) -> str:
    return "n/a (1 seed)" if np.isnan(low) else f"[{low:.3f}, {high:.3f}]"


def macro_table(g: SavedGrid) -> str:
    from tabulate import tabulate

    marks, table = cell_marks(g), []
    for model in g.models:
        row = [model]
        for resampler in g.resamplers:
            c = g.cell(model, resampler)
            if c is None:
                row.append("failed" if any(r.startswith(f"{model}__{resampler}__") for r in g.failed) else "—")
                continue
            text = _pm(c.score_mean, c.score_std)
            row.append((f"**{text}**" if c.best_for_model else text) + marks.get((model, resampler), "")
                       + collapse_mark(g, model, resampler))
        table.append(row)
    return tabulate(table, headers=["model", *g.resamplers], tablefmt="github", disable_numparse=True)


def recall_table(g: SavedGrid) -> str:
    from tabulate import tabulate

    rows = []
    for _, c in g.summary.iterrows():
        name = (f"**{c.resampler}**" if c.best_for_model else c.resampler) + collapse_mark(g, c.model, c.resampler)
        rows.append([c.model, name, seeds_done(g, c.n_seeds), _pm(c.score_mean, c.score_std),
                     _ci(c.score_ci_low, c.score_ci_high),
                     *[_pm(c[f"recall_{k}_mean"], c[f"recall_{k}_std"]) for k in g.task.classes]])
    return tabulate(rows, headers=["model", "resampler", "seeds", g.score.label,
                                   f"{g.score.label} {CONFIDENCE:.0%} CI (t)", *g.task.classes],
                    tablefmt="github", disable_numparse=True)


def literature_section(g: SavedGrid) -> list[str]:
    """Per-class sensitivity (Se) and positive predictive value (+P) for the task's reported classes (aami5:
    N, S, V, F), as the inter-patient literature reports them, and macro F1 over those beside the full one."""
    from tabulate import tabulate

    if not len(g.summary):
        return []
    task, macro = g.task, reported_macro(g.task)
    reported = task.reported
    test = g.manifest.get("class_counts", {}).get("test", {})
    few = [f"{k} ({test[k]})" for k in task.classes if k in test and test[k] < FEW_TEST_BEATS]
    rows = [[c.model, c.resampler,
             *[f"{c[f'{m}_{k}_mean']:.3f}" for k in reported for m in ("recall", "precision")],
             *([f"{c[f'{macro}_mean']:.3f}"] if macro else []), f"{c.macro_f1_mean:.3f}"]
            for _, c in g.summary.iterrows()]
    headers = ["model", "resampler", *[f"{m} {k}" for k in reported for m in ("Se", "+P")],
               *([f"macro F1 ({' '.join(reported)})"] if macro else []), f"macro F1 ({task.n_classes} classes)"]
    left_out = [c for c in task.classes if c not in reported]
    why = (f"The test part has fewer than {FEW_TEST_BEATS} beats of {', '.join(few)}: the "
           f"{count_word(task.n_classes)}-class macro F1 weighs that class like the others, so a few beats move it; "
           f"read the {count_word(len(reported))}-class one beside it." if few else f"Every class has at least {FEW_TEST_BEATS} test beats.")
    if few and not macro:
        why = (f"The test part has fewer than {FEW_TEST_BEATS} beats of {', '.join(few)}: macro F1 weighs that "
               "class like the others, so a few beats move it.")
    return [f"## Sensitivity and positive predictivity ({', '.join(reported)})", "",
            "Se = recall, +P = precision, mean over seeds, in the form the inter-patient literature reports "
            "(de Chazal et al. 2004 and after" + (f", which leave {' and '.join(left_out)} out" if left_out else "")
            + f"). {why}", "",
            tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), "",
            *published_beside(g), *single_patient_section(g)]


CARRIER_SHARE = 0.5  # a record holding at least this share of a class's test beats carries the class


def class_carriers(y: np.ndarray, records: np.ndarray, classes, reported) -> list[tuple[str, str, int, int]]:
    """(class, record, its beats of the class, the class's test beats) for every reported class of which one
    test record holds at least ``CARRIER_SHARE`` of the beats."""
    found = []
    for k, name in enumerate(classes):
        if name not in reported or not (y == k).any():
            continue
        names, counts = np.unique(records[y == k], return_counts=True)
        top = int(counts.argmax())
        if counts[top] >= CARRIER_SHARE * counts.sum():
            found.append((name, str(names[top]), int(counts[top]), int(counts.sum())))
    return found


def se_ppv(y: np.ndarray, pred: np.ndarray, k: int, n_classes: int = DEFAULT_N_CLASSES) -> tuple[float, float]:
    """Sensitivity and positive predictivity of class ``k``, as the evaluator defines them, but nan where
    undefined (no beat of the class, or none predicted as it) instead of the evaluator's 0."""
    cm = confusion_matrix(y, pred, n_classes)
    return (float(per_class_recall(cm)[k]) if cm[k].sum() else np.nan,
            float(per_class_precision(cm)[k]) if cm[:, k].sum() else np.nan)


def _mean_or_dash(values: np.ndarray) -> str:
    """The mean over seeds of the defined values, "—" where no seed's is defined (no beat predicted as the class)."""
    return "—" if np.isnan(values).all() else f"{np.nanmean(values):.3f}"


def single_patient_section(g: SavedGrid) -> list[str]:
    """Where one test patient carries a class (on DS2: record 232 holds 75% of the S beats, 213 93% of the F
    beats), that class's Se and +P of every cell over the whole test part and with the record left out."""
    from tabulate import tabulate

    records = g.store.test_records()
    if records is None or not len(g.runs):
        return []
    carriers = class_carriers(g.y_true, records, g.task.classes, g.task.reported)
    if not carriers:
        return []
    index = {c: i for i, c in enumerate(g.task.classes)}
    rows = []
    for (model, resampler), runs in g.runs.groupby(["model", "resampler"], sort=False):
        row = [model, resampler]
        for name, record, _, _ in carriers:
            k, kept = index[name], records != record
            n = g.task.n_classes
            whole = np.array([se_ppv(g.y_true, g.predictions[r], k, n) for r in runs.run_id])
            without = np.array([se_ppv(g.y_true[kept], g.predictions[r][kept], k, n) for r in runs.run_id])
            row += [f"{_mean_or_dash(whole[:, 0])} / {_mean_or_dash(without[:, 0])}",
                    f"{_mean_or_dash(whole[:, 1])} / {_mean_or_dash(without[:, 1])}"]
        rows.append(row)
    headers = ["model", "resampler", *[f"{m} {name}: all / without {record}" for name, record, _, _ in carriers
                                       for m in ("Se", "+P")]]
    said = "; ".join(f"record {record} holds {n:,} of the {total:,} test {name} beats ({n / total:.0%})"
                     for name, record, n, total in carriers)
    return ["### Classes one patient carries", "",
            f"In this test part {said}, so those classes' scores say how a model does on that patient more than "
            f"on the class. Se and +P over the whole test part and with that record's beats left out (mean over "
            f"seeds; — where no run predicted the class):", "",
            tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]


def published_beside(g: SavedGrid) -> list[str]:
    """On the inter split (DS1 → DS2, the literature's own), the published rows in their own form."""
    from benchmark.literature import inter_patient_table, intra_patient_table

    if g.task.name != "aami5":
        return []
    if g.split == "intra":
        return ["Published on the Kaggle beat set (an intra-patient split like this one, though not its records' "
                "exact cut), as published (`benchmark/literature.py`):", "", intra_patient_table(), ""]
    if g.split != "inter":
        return []
    return ["The published inter-patient results on the same split, in percent as published "
            "(`benchmark/literature.py`):", "", inter_patient_table(), ""]


def task_metrics_section(g: SavedGrid) -> list[str]:
    """The task's headline metrics beyond macro F1 (binary: sensitivity, specificity, AUROC) per cell."""
    from tabulate import tabulate

    extra = extra_metrics(g.task)
    if not extra or not len(g.summary):
        return []
    value = lambda c, m: "—" if np.isnan(c[f"{m}_mean"]) else _pm(c[f"{m}_mean"], c[f"{m}_std"])  # noqa: E731
    rows = [[c.model, c.resampler, seeds_done(g, c.n_seeds), _pm(c.score_mean, c.score_std),
             *[value(c, m) for m in extra]]
            for _, c in g.summary.iterrows()]
    names = [METRIC_NAMES.get(m, m) for m in extra]
    title = ", ".join(names)
    return [f"## {title[:1].upper() + title[1:]} (task `{g.task.name}`)", "",
            f"The {g.task.name} task's own metrics, mean ± sample std over seeds: sensitivity is "
            f"the recall of {g.task.classes[1]}, specificity that of {g.task.classes[0]}, AUROC is computed from each "
            f"run's stored probability of {g.task.classes[1]} (— where a run kept none).", "",
            tabulate(rows, headers=["model", "resampler", "seeds", g.score.label, *names], tablefmt="github",
                     disable_numparse=True), ""]


def significance_table(g: SavedGrid) -> str:
    from tabulate import tabulate

    if g.comparisons is None:
        return f"No paired tests: {g.no_comparisons}."
    rows = [[f"{r.model_a} × {r.resampler_a}{collapse_mark(g, r.model_a, r.resampler_a)}",
             f"{r.model_b} × {r.resampler_b}{collapse_mark(g, r.model_b, r.resampler_b)}", f"{r.difference:+.4f}",
             f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]", p_words(r.p_value, r.p_mc_error),
             p_words(r.p_holm, r.p_holm_mc_error), f"{r.n_boot:,}", r.verdict]
            for r in g.comparisons.itertuples()]
    return tabulate(rows, headers=["cell A", "cell B", f"{g.score.label} A − B", f"{CONFIDENCE:.0%} bootstrap CI",
                                   "p ± MC error", "p (Holm) ± MC error", "resamples", "verdict"],
                    tablefmt="github", disable_numparse=True)


def p_words(p: float, error: float) -> str:
    """A bootstrap p-value with its Monte Carlo error, to the digits that error allows."""
    return f"{p:.4f} ± {error:.4f}" if error >= 5e-5 else f"{p:.5f} ± {error:.5f}"


def rank_lines(a: RankAnalysis, score_label: str = "macro F1") -> list[str]:
    """One analysis of :mod:`benchmark.metrics.ranks` in words (ranked by ``score_label``), and its table of
    average ranks."""
    from tabulate import tabulate

    what = f"{a.treatment.capitalize()}s ranked by test {score_label} within each {a.block} block"
    if not a.computed:
        return [f"{what}: not computed, {a.reason}."]
    dropped = f", {a.n_incomplete} more dropped for a missing run" if a.n_incomplete else ""
    words = (f"{what} ({a.n_blocks} blocks{dropped}; rank 1 = highest, ties share the mean rank). "
             "Descriptive only: every block is scored on the same test beats, so the blocks are not "
             "independent data sets and no rank test is made; the paired record-level tests carry the "
             "inference.")
    table = tabulate([[name, f"{rank:.2f}"] for name, rank in a.mean_ranks.items()],
                     headers=[a.treatment, "average rank"], tablefmt="github", disable_numparse=True)
    return [words, "", table]


def ranks_section(g: SavedGrid) -> list[str]:
    lines = []
    for a in g.ranks.values():
        lines += rank_lines(a, g.score.label) + [""]
    return lines


def data_section(g: SavedGrid) -> list[str]:
    from tabulate import tabulate

    counts = g.manifest.get("class_counts", {})
    if not counts:
        return []
    return ["## Data", "", g.manifest.get("data_source", ""), "", validation_words(g.manifest), "",
            tabulate([[part, *[counts[part].get(k, 0) for k in g.task.classes], sum(counts[part].values())]
                      for part in ("train", "validation", "test") if part in counts],
                     headers=["part", *g.task.classes, "total"], tablefmt="github", intfmt=","), ""]


def seeds_done(g: SavedGrid, n: int) -> str:
    """A cell's seed count, "k of N" while it has fewer finished runs than the grid's seeds (a partial grid)."""
    planned = len(g.manifest["seeds"])
    return str(n) if n >= planned else f"{n} of {planned}"


def finished_seeds(g: SavedGrid) -> list[int]:
    """The seeds of which the grid has at least one finished run."""
    return sorted({int(s) for s in g.runs["seed"]}) if len(g.runs) else []


def spread_words(g: SavedGrid) -> str:
    seeds = g.manifest["seeds"]
    done = finished_seeds(g)
    what = "mean ± sample std over seeds" if len(done) > 1 else "one seed: no spread or interval can be given"
    held = "".join(f"; seed {s}: {n} of its {total} runs finished, left out of every table and test until all have"
                   for s, (n, total) in sorted(g.held_back.items()))
    if done == sorted(seeds) or not done:
        return f"{what} (seeds {', '.join(map(str, seeds))}{held})"
    return (f"{what} (seeds {', '.join(map(str, done))} of the grid's {', '.join(map(str, seeds))}: a partial grid, "
            f"{len(done)} of {len(seeds)} seeds done{held})")


def test_unit(g: SavedGrid) -> str:
    """What the paired tests resampled, in words."""
    if g.comparisons is None or not len(g.comparisons):
        return "no paired tests"
    first = g.comparisons.iloc[0]
    if first.get("unit", "beat") == "record":
        seeds = "and the seeds" if first.n_seeds > 1 else "one seed: training noise untested"
        from benchmark.data.records import patients_words

        records = g.store.test_records()
        counted = patients_words(set(records.tolist())) if records is not None else \
            f"{int(first.n_units)} test records (patients)"
        return f"paired bootstrap over the {counted}, {seeds}"
    return ("paired bootstrap over the test beats (no record of each test beat was saved: beats of one "
            "patient are not independent, so these tests overstate certainty)")


def compute_lines(g: SavedGrid) -> list[str]:
    """What the grid's runs cost, model by model (resampling plus training, each run on the machine below), and
    what its runs not yet finished would cost at the same means: a partial grid's projection, from its own runs."""
    from tabulate import tabulate

    runs = g.runs if g.all_runs is None else g.all_runs  # a seed held back from the tables has cost all the same
    if not len(runs):
        return []
    planned = len(g.manifest["seeds"]) * len(g.resamplers)  # runs of one model in the grid
    rows, done_h, left_h, left_runs = [], 0.0, 0.0, 0
    for model in g.models:
        cell = runs[runs.model == model]
        if not len(cell):
            continue
        seconds = cell.resample_seconds + cell.train_seconds
        left = max(0, planned - len(cell))
        done_h, left_h, left_runs = done_h + seconds.sum() / 3600, left_h + left * seconds.mean() / 3600, left_runs + left
        rows.append([model, len(cell), f"{seconds.mean():,.0f}", f"{seconds.sum() / 3600:.2f}", left,
                     f"{left * seconds.mean() / 3600:.2f}"])
    words = (f"{len(runs)} finished runs took {done_h:.1f} run-hours: each run's own time on the machine below, so "
             "runs trained side by side overlap in wall time (two pinned runs on a 2-core machine halve it)")
    words += (f"; the {left_runs} runs left would take about {left_h:.1f} run-hours more at these means." if left_runs
              else ".")
    return [words, "", tabulate(rows, headers=["model", "runs finished", "s a run (mean)", "run-hours",
                                               "runs left", "run-hours left (projected)"],
                                tablefmt="github", disable_numparse=True), ""]


def bootstrap_paragraph(g: SavedGrid) -> list[str]:
    """Why the paired tests resample what they do: the patients and, with several seeds, the seeds."""
    if g.comparisons is None or not len(g.comparisons) or g.comparisons.iloc[0].get("unit", "beat") != "record":
        return []
    seeds = int(g.comparisons.n_seeds.max())
    how = ("Each resample draws the test records with replacement, the same records for both cells, and then the "
           f"seeds with replacement, the same draw for both cells (seed s of one cell is paired with seed s of the "
           f"other), so the interval of an effect holds the patients' variation and the training runs' together "
           f"({seeds} seeds a cell here)." if seeds > 1 else
           "With one seed there is no second level to draw: each verdict compares two training runs, and the "
           "interval holds the patients' variation only, not how far another training run would move either cell.")
    return ["Why a two-level bootstrap: a result must hold for other patients, so the test records (patients) are "
            "the units; seeds are replicates of training. " + how + " A mixed model with records and seeds as random "
            f"effects would need {g.score.label} to be a sum of per-record scores, and it is not (it is computed from "
            "the pooled confusion counts); the bootstrap recomputes it from resampled counts, so no model of it is "
            "assumed.", ""]


def mark_legend(g: SavedGrid) -> str:
    collapsed = (f"{COLLAPSED.strip()}: a collapsed run (a failed training; see Collapsed runs)."
                 if collapsed_cells(g) else "")
    return (f"▲ / ▼: significantly better / worse than the same model without resampling ({test_unit(g)}; "
            f"Holm-adjusted p < {ALPHA}). " + collapsed).rstrip()


def class_legend(g: SavedGrid) -> str:
    """The task's class names in words (every task's classes are groups of the AAMI EC57 classes)."""
    return "Classes (AAMI EC57): " + "; ".join(f"{k} = {v}" for k, v in g.task.long_names.items()) + "."


def summary_markdown(g: SavedGrid) -> str:
    lines = [
        f"# Benchmark results: `{g.split}` split, grid `{g.manifest['grid']}`", "",
        f"Test-set {g.score.label} (primary metric{', ' + g.score.why if g.score.why else ''}) and per-class recall "
        f"for every model × resampler, {spread_words(g)}. **Bold**: the best resampler for that model by mean "
        f"{g.score.label}, among its cells without a collapsed run. "
        + (mark_legend(g) + " " if g.comparisons is not None else "")
        + "Resampling touches the training part only; validation and test parts are the same for every run.",
        "", f"## {g.score.label[:1].upper() + g.score.label[1:]}", "", macro_table(g), "", "## Average ranks", "",
        *ranks_section(g),
        "## Per-class recall", "", recall_table(g), "", *task_metrics_section(g),
        class_legend(g), "",
    ]
    return "\n".join(lines + data_section(g) + provenance_section(g))


def collapse_lines(g: SavedGrid) -> list[str]:
    """The collapsed runs, each with why: failed trainings, not treatment effects."""
    cells = collapsed_cells(g)
    if not cells:
        return []
    lines = ["## Collapsed runs", "",
             f"Marked{COLLAPSED} in the tables. A run that predicts one class for every test beat, or whose "
             "validation macro F1 never rose above what predicting the commonest class scores, is a failed "
             "training, not an effect of its treatment: the reading leaves comparisons with it out of its "
             "gains and losses.", ""]
    for (model, resampler), runs in cells.items():
        for seed, why in runs:
            lines.append(f"- {model} × {resampler}, seed {seed}: {why}.")
    return lines + [""]
