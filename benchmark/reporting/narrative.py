"""REPORT.md of one grid: tables, figures, a factual reading and caveats. Every sentence is computed
from the saved runs (the data model of ``benchmark.reporting.analysis``, rendered by ``tables``,
``shift_sections`` and each external test set's own section); figures are drawn here and referred to
by name."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.config import GRIDS
from benchmark.external import external_sets
from benchmark.literature import s_f1_sentence
from benchmark.metrics.comparisons import ALPHA, MAX_BOOT, MC_MARGIN, N_BOOT
from benchmark.metrics.stats import CONFIDENCE
from benchmark.reporting import figures, shift_sections
from benchmark.reporting.analysis import FEW_TEST_BEATS, SavedGrid, collapsed_cells, rare_classes
from benchmark.reporting.tables import (bootstrap_paragraph, collapse_lines, compute_lines, data_section, literature_section, macro_table, mark_legend,
                                        provenance_section, rank_lines, recall_table, significance_table,
                                        spread_words, task_metrics_section, test_unit)
from benchmark.reporting.threshold_free import CSV as THRESHOLD_FREE_CSV
from benchmark.reporting.threshold_free import threshold_free_scores, threshold_free_section
from benchmark.store import PRIOR_CORRECTED
from benchmark.reporting.provenance_section import write_report_text

CAVEATS = {
    "intra": "The intra-patient split puts beats of the same patient on both sides (the Kaggle protocol), "
             "so these numbers are optimistic: a model can recognise a patient's beat morphology rather than "
             "the arrhythmia. Compare with the inter-patient split before drawing clinical conclusions.",
    "inter": "The inter-patient split (de Chazal DS1 → DS2) tests on patients never seen in training, the "
             f"setting that matters clinically; {s_f1_sentence()}.",
    "inter_ds2": "The inter split's other direction (DS2 → DS1): unseen patients too, with the roles of the two "
                 "record sets swapped, so its models never saw records 118 and 119 (the nstdb noise-stress "
                 "records).",
    "kaggle": "The Kaggle CSVs are an intra-patient split: beats of one patient fall on both sides.",
}


def _caveats(g: SavedGrid) -> str:
    """The split's caveat, and the classes with a handful of training beats, counted."""
    counts = g.manifest.get("class_counts", {}).get("train", {})
    few = [f"{counts[k]} {k}" for k in g.task.classes if k in counts and counts[k] < FEW_TEST_BEATS]
    rare = (f" Its training part has only {' and '.join(few)} beats, so "
            f"{'those scores rest' if len(few) > 1 else 'that score rests'} on a handful of beats." if few else "")
    return CAVEATS.get(g.split, "") + rare


def _tied_best(cells):
    """The cells that share the highest mean primary score (a tie is reported as a tie, not won by order)."""
    top = cells.score_mean.max()
    return cells[cells.score_mean == top]


def _reading(g) -> list[str]:
    s = g.summary
    if not len(s):
        return ["No finished runs yet."]
    subset = g.manifest.get("data", {}).get("subset")
    if subset:  # the smoke grid: a check that every cell runs, no result
        sizes = " / ".join(f"{n:,}" for n in subset)
        return [f"- A check of the harness, not a result: {g.manifest['train']['steps']:,} steps a run on a stratified "
                f"subset ({sizes} beats of train / validation / test). Its tables show that every cell trains and is "
                "scored; no best cell, gain or loss is read from them."]
    collapsed = collapsed_cells(g)
    standing = s[[(c.model, c.resampler) not in collapsed for c in s.itertuples()]]  # a collapse is no one's best
    if not len(standing):
        return [f"- Every cell has a collapsed run ({len(collapsed)} cells); see Collapsed runs."]
    best = _tied_best(standing)
    names = " = ".join(f"**{b.model} × {b.resampler}**" for b in best.itertuples())
    label = g.score.label
    lines = ([f"- Primary score: {label}, {g.score.why}; the {g.task.n_classes}-class macro F1 is secondary "
              "(Sensitivity and positive predictivity below)."] if g.score.why else [])
    lines += [f"- Best cell{'s (tied)' if len(best) > 1 else ''}"
              + (" without a collapsed run" if collapsed else "")
              + f": {names}, {label} {best.score_mean.iloc[0]:.3f}."]
    for model in g.models:
        cells = s[s.model == model]
        if not len(cells):
            continue
        fair = standing[standing.model == model]
        if not len(fair):
            lines.append(f"- {model}: every cell has a collapsed run.")
            continue
        tops = _tied_best(fair)
        top, base = tops.iloc[0], g.cell(model, "none")
        gain = "" if base is None or "none" in set(tops.resampler) else \
            f" ({top.score_mean - base.score_mean:+.3f} over none)"
        which = (f"best resampler {top.resampler}" if len(tops) == 1 else
                 f"best resamplers tied: {', '.join(tops.resampler)}") + \
            (" among the cells without a collapsed run" if len(fair) < len(cells) else "")
        lines.append(f"- {model}: {which}, {label} {top.score_mean:.3f}{gain}; "
                     f"range over resamplers {cells.score_mean.min():.3f}–{cells.score_mean.max():.3f}.")
    for k in rare_classes(g):
        col = f"recall_{k}_mean"
        lo, hi = s.loc[s[col].idxmin()], s.loc[s[col].idxmax()]
        lines.append(f"- {k} recall ranges from {lo[col]:.2f} ({lo.model} × {lo.resampler}) to "
                     f"{hi[col]:.2f} ({hi.model} × {hi.resampler}).")
    if g.comparisons is not None and len(g.comparisons):
        vs = g.comparisons[g.comparisons.family == "resampler vs none"]
        failed = vs.apply(lambda r: (r.model_a, r.resampler_a) in collapsed or (r.model_b, r.resampler_b) in collapsed,
                          axis=1).astype(bool) if len(vs) else vs.index.isin([])
        fair = vs[~failed]
        for verdict, plural in (("gain", "gains"), ("loss", "losses")):  # every comparison: a collapse is a result
            hits = vs[vs.verdict == verdict]
            names = ", ".join(f"{r.model_a} × {r.resampler_a}" for r in hits.itertuples()) or "none"
            beside = (f"; {int((fair.verdict == verdict).sum())} of the {len(fair)} without a collapsed run"
                      if failed.any() else "")
            lines.append(f"- Significant {plural} over no resampling ({len(hits)} of {len(vs)}{beside}): {names}.")
        none_found = vs[vs.verdict == "no evidence"]
        if len(none_found):
            lines.append(f"- No evidence of a difference ({len(none_found)} of {len(vs)}); each {label} difference's "
                         "95% interval, outside which the test part rules the effect out (unadjusted: the verdicts "
                         f"are Holm-adjusted over the {len(vs)} tests, so an interval may miss 0 without a "
                         "verdict): " + ", ".join(
                             f"{r.model_a} × {r.resampler_a} ({r.ci_low:+.3f} … {r.ci_high:+.3f})"
                             for r in none_found.itertuples()) + ".")
        undecided = vs[vs.verdict == "undecided"]
        if len(undecided):
            lines.append("- Undecided (adjusted p within the Monte Carlo margin of α at the most resamples): "
                         + ", ".join(f"{r.model_a} × {r.resampler_a}" for r in undecided.itertuples()) + ".")
        if failed.any():
            lines.append(f"- Counted above as results, not left out ({int(failed.sum())} comparisons with a collapsed "
                         "run: a collapse the treatment causes is its loss, one of no resampling is its gain): "
                         + ", ".join(f"{r.model_a} × {r.resampler_a} ({r.verdict}; collapsed: "
                                     + " and ".join(x for x, c in ((r.resampler_a, (r.model_a, r.resampler_a)),
                                                                   ("none", (r.model_b, r.resampler_b)))
                                                    if c in collapsed) + ")"
                                     for r in vs[failed].itertuples()) + ".")
        if len(vs) and int(vs.n_seeds.max()) == 1:
            lines.append("- One seed: each verdict compares two training runs, one a cell, so it says nothing of how "
                         "much another seed would move either.")
        lines.append(f"- Unit of these tests: {test_unit(g)}.")
    elif collapsed:
        lines.append(f"- Collapsed runs (failed trainings): {len(collapsed)} cell(s); see Collapsed runs.")
    return lines


def _ranks_section(g) -> list[str]:
    lines = [
        "## Average ranks", "",
        f"Within each block the treatments are ranked by test {g.score.label} (1 = highest). The blocks of this grid "
        "share one test set, so they are not the independent data sets that Friedman's test and Nemenyi's "
        "critical difference assume (Demšar 2006); the ranks describe, and the record-level paired tests "
        "above decide.", "",
    ]
    for a in g.ranks.values():
        lines += [f"### {a.treatment.capitalize()}s", "", *rank_lines(a, g.score.label), ""]
    return lines


def write_full_report(g: SavedGrid) -> list[Path]:
    """Draw the figures and write REPORT.md; returns every file written."""
    from benchmark.files import write_text

    split_dir = g.store.path
    fig_dir = split_dir / "figures"
    runs = g.runs
    best_cm, histories = {}, {}
    for run_id, m in g.metrics.items():
        histories.setdefault((m["model"], m["resampler"]), []).append(m["history"])
    for model in g.models:
        cells = g.summary[g.summary.model == model]
        if len(cells):
            top = cells.sort_values("score_mean", ascending=False).iloc[0].resampler
            ids = runs[(runs.model == model) & (runs.resampler == top)].run_id
            best_cm[model] = (top, np.sum([g.metrics[i]["test"]["confusion_matrix"] for i in ids], axis=0))
    figs = {
        "heatmap": figures.heatmap(g.summary, g.failed, g.models, g.resamplers, fig_dir / "macro_f1_heatmap.png",
                                   f"{g.split} split: test {g.score.label}"),
        "recall": figures.recall_bars(g.summary, g.models, g.resamplers, fig_dir / "recall_by_resampler.png",
                                      g.task.classes),
        "confusion": figures.confusion_matrices(best_cm, fig_dir / "confusion_best.png", g.task.classes),
        "validation": figures.validation_curves(histories, g.models, g.resamplers, fig_dir / "validation_curves.png"),
        "cost": figures.cost_vs_f1(runs, g.models, g.resamplers, fig_dir / "cost_vs_macro_f1.png", "score",
                                   g.score.label),
    }
    paths = list(figs.values())
    ranks = _ranks_section(g)
    scores = threshold_free_scores(g)
    if len(scores):
        paths.append(g.store.file(THRESHOLD_FREE_CSV))
        write_text(paths[-1], scores.to_csv(index=False, float_format="%.6f"))
    external = []  # every registered external test set's section, in registry order
    for entry in external_sets():
        lines, drawn = entry.section(g, g.evaluations.get(entry.name), fig_dir)
        external += lines
        paths += drawn
    img = lambda alt, name: f"![{alt}]({figs[name].relative_to(split_dir).as_posix()})"  # noqa: E731
    full = GRIDS["full"]
    text = [
        f"# Report: `{g.split}` split, grid `{g.manifest['grid']}`"
        + ("" if g.task.name == "aami5" else f", task `{g.task.name}` ({g.task.description})"), "",
        f"{len(runs)} runs: {len(g.models)} models × {len(g.resamplers)} resamplers, {spread_words(g)}. "
        "All numbers are on the test part, which is the same for every run.", "",
        "## Reading", "", *_reading(g), "",
        f"## {g.score.label[:1].upper() + g.score.label[1:]}", "", img(f"{g.score.label} heatmap", "heatmap"), "",
        macro_table(g), "",
        "**Bold**: best resampler per model (a cell with a collapsed run is never bold). " + (mark_legend(g) if g.comparisons is not None else ""), "",
        "## Is the difference real?", "",
        f"{test_unit(g).capitalize()} ({N_BOOT:,} resamples, and up to {MAX_BOOT:,} for a comparison whose adjusted "
        f"p lies within {MC_MARGIN:g} Monte Carlo errors of α = {ALPHA}, until none does, so no verdict depends on "
        f"the bootstrap's draw; the same resample for both cells, the {g.score.label} gap averaged over seeds), p-values "
        "adjusted with Holm-Bonferroni over all comparisons below together. "
        "Two families: every resampler against none for each model, and for each resampler its best model "
        "by validation macro F1 against the others. The next section ranks resamplers and models over all "
        "cells.", "", *bootstrap_paragraph(g),
        significance_table(g), "",
        *collapse_lines(g),
        *ranks,
        "## Per-class recall", "", img("recall by resampler", "recall"), "", recall_table(g), "",
        *threshold_free_section(g, scores),
        *task_metrics_section(g), *literature_section(g),
        f"Error bars: sample std over seeds (none with one seed). {CONFIDENCE:.0%} CI: Student-t interval of the "
        "mean over seeds.", "",
        *shift_sections.prior_section(g, g.evaluations.get(PRIOR_CORRECTED)),
        *external,
        "## Confusion matrices of each model's best cell", "", img("confusion matrices", "confusion"), "",
        "Counts summed over seeds; shading is the row-normalised rate (recall on the diagonal).", "",
        "## Validation curves", "", img("validation curves", "validation"), "",
        "Validation macro F1 at each check; the weights of the best check are the ones tested.", "",
        "## Cost", "", img(f"cost against {g.score.label}", "cost"), "",
        "Wall time of resampling plus training per run on the machine below (resampling time is "
        "counted in full for every model, though the grid computes each resampled set once).", "",
        *compute_lines(g),
        "## Caveats", "", _caveats(g), "",
    ]
    steps = g.manifest["train"]["steps"]
    if steps < full.train.steps:
        text += [f"This grid used a reduced budget ({steps:,} steps); the `full` grid "
                 f"({full.train.steps:,} steps, {len(full.seeds)} seeds) is the benchmark proper.", ""]
    report = split_dir / "REPORT.md"
    write_report_text(report, "\n".join(text + data_section(g) + provenance_section(g)))
    return paths + [report]
