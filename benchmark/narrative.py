"""REPORT.md for one split (tables, figures, a factual reading, caveats) and results/README.md
comparing the splits side by side. Every sentence is computed from the saved runs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark import figures
from benchmark.storage import write_text

CAVEATS = {
    "intra": "The intra-patient split puts beats of the same patient on both sides (the Kaggle protocol), "
             "so these numbers are optimistic: a model can recognise a patient's beat morphology rather than "
             "the arrhythmia. Compare with the inter-patient split before drawing clinical conclusions.",
    "inter": "The inter-patient split (de Chazal DS1 → DS2) tests on patients never seen in training, the "
             "setting that matters clinically; published S-class F1 here is roughly 0.2–0.5. Its training "
             "part has only 7 Q beats, so Q scores rest on a handful of beats.",
    "kaggle": "The Kaggle CSVs are an intra-patient split: beats of one patient fall on both sides.",
}


def _reading(g) -> list[str]:
    from benchmark.report import test_unit

    s = g.summary
    if not len(s):
        return ["No finished runs yet."]
    best = s.sort_values("macro_f1_mean", ascending=False).iloc[0]
    lines = [f"- Best cell: **{best.model} × {best.resampler}**, macro F1 {best.macro_f1_mean:.3f}."]
    for model in g.models:
        cells = s[s.model == model]
        if not len(cells):
            continue
        top = cells.sort_values("macro_f1_mean", ascending=False).iloc[0]
        base = g.cell(model, "none")
        gain = "" if base is None or top.resampler == "none" else \
            f" ({top.macro_f1_mean - base.macro_f1_mean:+.3f} over none)"
        lines.append(f"- {model}: best resampler {top.resampler}, macro F1 {top.macro_f1_mean:.3f}{gain}; "
                     f"range over resamplers {cells.macro_f1_mean.min():.3f}–{cells.macro_f1_mean.max():.3f}.")
    for k in ("S", "F"):
        col = f"recall_{k}_mean"
        lo, hi = s.loc[s[col].idxmin()], s.loc[s[col].idxmax()]
        lines.append(f"- {k} recall ranges from {lo[col]:.2f} ({lo.model} × {lo.resampler}) to "
                     f"{hi[col]:.2f} ({hi.model} × {hi.resampler}).")
    if g.comparisons is not None and len(g.comparisons):
        vs = g.comparisons[g.comparisons.family == "resampler vs none"]
        for verdict, plural in (("gain", "gains"), ("loss", "losses")):
            hits = vs[vs.verdict == verdict]
            names = ", ".join(f"{r.model_a} × {r.resampler_a}" for r in hits.itertuples()) or "none"
            lines.append(f"- Significant {plural} over no resampling ({len(hits)} of {len(vs)}): {names}.")
        lines.append(f"- Unit of these tests: {test_unit(g)}.")
    return lines


def _ranks_section(g, paths: list[Path], split_dir: Path) -> list[str]:
    """Average ranks and critical-difference diagrams; each diagram drawn is appended to ``paths``.
    A diagram the data no longer support is deleted, so no stale one is left beside the report."""
    from importlib.metadata import version

    from benchmark.ranks import MIN_BLOCKS
    from benchmark.report import rank_lines

    lines = [
        "## Average ranks (Demšar 2006)", "",
        f"Computed with autorank {version('autorank')}. Within each block the treatments are ranked by test "
        "macro F1 (1 = highest); Friedman's test asks whether they all rank alike, and only when it says no "
        "does Nemenyi's post-hoc test call two treatments different, when their average ranks differ by more "
        "than the critical difference CD. The nonparametric tests are forced: autorank would otherwise choose "
        "ANOVA from normality tests that a handful of blocks cannot support. A block needs a run of every "
        f"treatment, and the Friedman test needs at least {MIN_BLOCKS} blocks.", "",
    ]
    caveats = ["every block is scored on the same test beats, so a significant result speaks for this test "
               "set across models, resamplers and seeds, not across data sets as in Demšar's setting"]
    if len(g.manifest["seeds"]) > 1:
        caveats.append("blocks that differ only in the seed share a model (or resampler), so they are not "
                       "independent and the p-values are somewhat optimistic")
    if any(a.computed and a.n_blocks < 10 for a in g.ranks.values()):
        caveats.append("with fewer than about 10 blocks the χ² approximation of Friedman's test is rough")
    lines += ["Caveats: " + "; ".join(caveats) + ".", ""]
    for a in g.ranks.values():
        path = split_dir / "figures" / f"critical_difference_{a.treatment}s.png"
        lines += [f"### {a.treatment.capitalize()}s", "", *rank_lines(a), ""]
        if a.significant:
            title = (f"{g.split} split: {a.treatment}s ranked by test macro F1 (1 = best)\n"
                     f"within {a.n_blocks} {a.block} blocks; Friedman p = {a.p_value:.4f}\n"
                     f"bars: no significant difference (ranks at most CD = {a.cd:.2f} apart; "
                     f"Nemenyi, α = {a.alpha})")
            paths.append(figures.critical_difference(a, path, title))
            lines += [f"![critical-difference diagram of the {a.treatment}s]"
                      f"({path.relative_to(split_dir).as_posix()})", ""]
        else:
            path.unlink(missing_ok=True)
    return lines


def write_full_report(g, split_dir: Path) -> list[Path]:
    from benchmark.report import data_section, literature_section, macro_table, mark_legend, provenance_section, \
        recall_table, significance_table, spread_words, test_unit

    fig_dir = split_dir / "figures"
    runs = g.runs
    best_cm, histories = {}, {}
    for run_id, m in g.metrics.items():
        histories.setdefault((m["model"], m["resampler"]), []).append(m["history"])
    for model in g.models:
        cells = g.summary[g.summary.model == model]
        if len(cells):
            top = cells.sort_values("macro_f1_mean", ascending=False).iloc[0].resampler
            ids = runs[(runs.model == model) & (runs.resampler == top)].run_id
            best_cm[model] = (top, np.sum([g.metrics[i]["test"]["confusion_matrix"] for i in ids], axis=0))
    paths = [
        figures.heatmap(g.summary, g.models, g.resamplers, fig_dir / "macro_f1_heatmap.png",
                        f"{g.split} split: test macro F1"),
        figures.recall_bars(g.summary, g.models, g.resamplers, fig_dir / "recall_by_resampler.png"),
        figures.confusion_matrices(best_cm, fig_dir / "confusion_best.png"),
        figures.validation_curves(histories, g.models, g.resamplers, fig_dir / "validation_curves.png"),
        figures.cost_vs_f1(runs, g.models, g.resamplers, fig_dir / "cost_vs_macro_f1.png"),
    ]
    ranks = _ranks_section(g, paths, split_dir)
    rel = lambda p: p.relative_to(split_dir).as_posix()  # noqa: E731
    text = [
        f"# Report: `{g.split}` split, grid `{g.manifest['grid']}`", "",
        f"{len(runs)} runs: {len(g.models)} models × {len(g.resamplers)} resamplers, {spread_words(g)}. "
        "All numbers are on the test part, which is the same for every run.", "",
        "## Reading", "", *_reading(g), "",
        "## Macro F1", "", f"![macro F1 heatmap]({rel(paths[0])})", "", macro_table(g), "",
        "**Bold**: best resampler per model. " + (mark_legend(g) if g.comparisons is not None else ""), "",
        "## Is the difference real?", "",
        f"{test_unit(g).capitalize()} (2,000 resamples; the same resample for both cells, the macro-F1 gap "
        "averaged over seeds), p-values adjusted with Holm-Bonferroni over all comparisons below together. "
        "Two families: every resampler against none for each model, and for each resampler its best model "
        "by validation macro F1 against the others. The next section ranks resamplers and models over all "
        "cells.", "",
        significance_table(g), "",
        *ranks,
        "## Per-class recall", "", f"![recall by resampler]({rel(paths[1])})", "", recall_table(g), "",
        *literature_section(g),
        "Error bars: sample std over seeds (none with one seed). 95% CI: Student-t interval of the mean over seeds.", "",
        "## Confusion matrices of each model's best cell", "", f"![confusion matrices]({rel(paths[2])})", "",
        "Counts summed over seeds; shading is the row-normalised rate (recall on the diagonal).", "",
        "## Validation curves", "", f"![validation curves]({rel(paths[3])})", "",
        "Validation macro F1 at each check; the weights of the best check are the ones tested.", "",
        "## Cost", "", f"![cost against macro F1]({rel(paths[4])})", "",
        "Wall time of resampling plus training per run on the machine below (resampling time is "
        "counted in full for every model, though the grid computes each resampled set once).", "",
        "## Caveats", "", CAVEATS.get(g.split, ""), "",
    ]
    if g.manifest["train"]["steps"] < 10_000:
        text += [f"This grid used a reduced budget ({g.manifest['train']['steps']} steps); the `full` grid "
                 "(10,000 steps, 5 seeds) is the benchmark proper.", ""]
    report = split_dir / "REPORT.md"
    write_text(report, "\n".join(text + data_section(g) + provenance_section(g)))
    return paths + [report]


def _machine(manifest: dict) -> str:
    m = manifest.get("provenance", {}).get("machine")
    return f"{m['cpu']}, {m['cores']} cores" if m else "an unrecorded machine"


def write_overview(results_dir: Path, splits: list[str]) -> Path | None:
    """results/README.md: macro F1 of every cell on each split, and what is lost from intra to inter."""
    from tabulate import tabulate

    from benchmark.report import read_grid

    grids = {s: read_grid(results_dir, s, compare=False) for s in splits
             if (Path(results_dir) / s / "grid.json").exists()}
    if not grids:
        return None
    cells: dict[tuple[str, str], dict[str, float]] = {}
    for split, g in grids.items():
        for _, c in g.summary.iterrows():
            cells.setdefault((c.model, c.resampler), {})[split] = c.macro_f1_mean
    names = list(grids)
    headers = ["model", "resampler", *[f"{s} macro F1" for s in names]]
    if {"intra", "inter"} <= set(names):
        headers.append("inter − intra")
    rows = []
    for (model, resampler), v in cells.items():
        row = [model, resampler, *[f"{v[s]:.3f}" if s in v else "—" for s in names]]
        if {"intra", "inter"} <= set(names):
            row.append(f"{v['inter'] - v['intra']:+.3f}" if {"intra", "inter"} <= set(v) else "—")
        rows.append(row)
    lines = ["# Results", "",
             "Test macro F1 of every model × resampler on each split (mean over seeds). Each split's "
             "`REPORT.md` has the per-class recall, significance tests, figures and provenance.", "",
             *[f"- [`{s}`]({s}/REPORT.md): grid `{g.manifest['grid']}`, seeds "
               f"{', '.join(map(str, g.manifest['seeds']))}, {len(g.runs)} runs, trained at commit "
               f"`{g.manifest.get('provenance', {}).get('commit', '?')}` on {_machine(g.manifest)}"
               for s, g in grids.items()], "",
             tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]
    if {"intra", "inter"} <= set(names):
        from benchmark.beats import CLASSES

        tests = {s: grids[s].manifest.get("class_counts", {}).get("test", {}) for s in ("intra", "inter")}
        mix = {s: {k: test[k] for k in CLASSES if k in test} for s, test in tests.items()}
        words = "; ".join(f"{s}: " + ", ".join(f"{k} {n:,}" for k, n in m.items()) for s, m in mix.items() if m)
        fewest = min(mix["inter"], key=mix["inter"].get) if mix["inter"] else None
        lines += ["`inter − intra`: the change from testing on unseen beats of seen patients to testing on unseen "
                  "patients, but not only that: the two test parts also differ in their class mix"
                  + (f" ({words})" if words else "") + ", and macro F1 weighs every class equally, so a class "
                  "with few test beats" + (f" ({fewest} on the inter split: {mix['inter'][fewest]})" if fewest else "")
                  + " moves it by itself. The two splits may also come from different grids, commits or machines "
                  "(TensorFlow's CPU results differ slightly between CPU models); see each report.", ""]
    path = Path(results_dir) / "README.md"
    write_text(path, "\n".join(lines))
    return path
