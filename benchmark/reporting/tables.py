"""From the tidy table of a grid's runs to the tables and tests a reviewer reads (no file is written here).

:func:`read_grid` gathers everything the report needs from one grid of the run store: the tidy table
(``benchmark.reporting.tidy``), the summary over seeds, the paired tests and the rank analyses; the
other functions turn it into Markdown.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.data.beats import CLASSES
from benchmark.metrics.comparisons import ALPHA, MARKS, N_BOOT, compare_cells
from benchmark.metrics.ranks import RankAnalysis, rank_analyses
from benchmark.metrics.stats import CONFIDENCE, t_interval
from benchmark.provenance import git_commit
from benchmark.reporting.tidy import LITERATURE_CLASSES, load_grid
from benchmark.store import PRIOR_CORRECTED, GridStore

CLASS_NAMES = {"N": "normal", "S": "supraventricular ectopic", "V": "ventricular ectopic",
               "F": "fusion", "Q": "unknown / paced"}


EVALUATED = (PRIOR_CORRECTED, "svdb", "nstdb")  # evaluations of saved models the report reads


def summarise(runs: pd.DataFrame, models: list[str], resamplers: list[str]) -> pd.DataFrame:
    """Mean, sample standard deviation and 95% t interval (macro F1) over seeds for every
    (model, resampler) that has runs."""
    metrics = ["macro_f1", *[f"recall_{c}" for c in CLASSES], "accuracy", "balanced_accuracy", "best_val_macro_f1",
               *[f"precision_{c}" for c in LITERATURE_CLASSES], "macro_f1_nsvf"]
    out = []
    for model in models:
        for resampler in resamplers:
            cell = runs[(runs.model == model) & (runs.resampler == resampler)] if len(runs) else runs
            if not len(cell):
                continue
            row = {"model": model, "resampler": resampler, "n_seeds": len(cell)}
            for m in metrics:
                row[f"{m}_mean"] = float(cell[m].mean())
                row[f"{m}_std"] = float(cell[m].std(ddof=1)) if len(cell) > 1 else float("nan")
            interval = t_interval(cell["macro_f1"])
            row["macro_f1_ci_low"], row["macro_f1_ci_high"] = interval or (float("nan"), float("nan"))
            out.append(row)
    summary = pd.DataFrame(out)
    if len(summary):
        best = summary.groupby("model")["macro_f1_mean"].transform("max")
        summary["best_for_model"] = summary["macro_f1_mean"] == best
    return summary


def _pm(mean: float, std: float) -> str:
    return f"{mean:.3f}" if np.isnan(std) else f"{mean:.3f} ± {std:.3f}"


def _ci(low: float, high: float) -> str:
    return "n/a (1 seed)" if np.isnan(low) else f"[{low:.3f}, {high:.3f}]"


@dataclass
class SavedGrid:
    """Everything the report needs, read from one grid of the run store."""

    store: GridStore
    manifest: dict
    runs: pd.DataFrame
    errors: dict[str, str]  # run_id -> why it has no result
    failed: dict[str, str]  # the runs of ``errors`` that failed, and why
    metrics: dict[str, dict]
    summary: pd.DataFrame
    comparisons: pd.DataFrame | None
    no_comparisons: str  # why there are no paired tests, when there are none
    ranks: dict[str, RankAnalysis]  # average ranks of the resamplers and of the models
    predictions: dict  # run_id -> predicted class of every test beat
    evaluations: dict  # test set -> (labels, records, samples, {run_id: predictions}), from `evaluate`

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


def read_grid(store: GridStore, n_boot: int = N_BOOT, compare: bool = True) -> SavedGrid:
    tidy = load_grid(store)
    runs, manifest = tidy.runs, tidy.manifest
    summary = summarise(runs, manifest["models"], manifest["resamplers"])
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
                                    manifest["resamplers"], n_boot=n_boot, groups=tidy.records)
    ranks = rank_analyses(runs, manifest["models"], manifest["resamplers"])
    evaluations = {name: e for name in EVALUATED if (e := store.evaluation(name)) is not None}
    return SavedGrid(store, manifest, runs, tidy.errors, tidy.failed, tidy.metrics, summary, comparisons, why, ranks,
                     tidy.predictions, evaluations)


def _marks(g: SavedGrid) -> dict[tuple[str, str], str]:
    """▲ / ▼ for cells significantly better / worse than the same model without resampling."""
    if g.comparisons is None or not len(g.comparisons):
        return {}
    vs_none = g.comparisons[g.comparisons.family == "resampler vs none"]
    return {(r.model_a, r.resampler_a): MARKS.get(r.verdict, "")
            for r in vs_none.itertuples()}


def macro_table(g: SavedGrid) -> str:
    from tabulate import tabulate

    marks, table = _marks(g), []
    for model in g.models:
        row = [model]
        for resampler in g.resamplers:
            c = g.cell(model, resampler)
            if c is None:
                row.append("failed" if any(r.startswith(f"{model}__{resampler}__") for r in g.failed) else "—")
                continue
            text = _pm(c.macro_f1_mean, c.macro_f1_std)
            row.append((f"**{text}**" if c.best_for_model else text) + marks.get((model, resampler), ""))
        table.append(row)
    return tabulate(table, headers=["model", *g.resamplers], tablefmt="github", disable_numparse=True)


def recall_table(g: SavedGrid) -> str:
    from tabulate import tabulate

    rows = []
    for _, c in g.summary.iterrows():
        name = f"**{c.resampler}**" if c.best_for_model else c.resampler
        rows.append([c.model, name, c.n_seeds, _pm(c.macro_f1_mean, c.macro_f1_std),
                     _ci(c.macro_f1_ci_low, c.macro_f1_ci_high),
                     *[_pm(c[f"recall_{k}_mean"], c[f"recall_{k}_std"]) for k in CLASSES]])
    return tabulate(rows, headers=["model", "resampler", "seeds", "macro F1", f"macro F1 {CONFIDENCE:.0%} CI (t)", *CLASSES],
                    tablefmt="github", disable_numparse=True)


FEW_TEST_BEATS = 30  # below this, a class's F1 rests on a handful of beats


def literature_section(g: SavedGrid) -> list[str]:
    """Per-class sensitivity (Se) and positive predictive value (+P) for N, S, V, F, as the inter-patient
    literature reports them, and macro F1 over those four beside the five-class one."""
    from tabulate import tabulate

    if not len(g.summary):
        return []
    test = g.manifest.get("class_counts", {}).get("test", {})
    few = [f"{k} ({test[k]})" for k in CLASSES if k in test and test[k] < FEW_TEST_BEATS]
    rows = [[c.model, c.resampler,
             *[f"{c[f'{m}_{k}_mean']:.3f}" for k in LITERATURE_CLASSES for m in ("recall", "precision")],
             f"{c.macro_f1_nsvf_mean:.3f}", f"{c.macro_f1_mean:.3f}"] for _, c in g.summary.iterrows()]
    headers = ["model", "resampler", *[f"{m} {k}" for k in LITERATURE_CLASSES for m in ("Se", "+P")],
               "macro F1 (N S V F)", "macro F1 (5 classes)"]
    why = (f"The test part has fewer than {FEW_TEST_BEATS} beats of {', '.join(few)}: the five-class macro F1 "
           "weighs that class like the others, so a few beats move it; read the four-class one beside it."
           if few else f"Every class has at least {FEW_TEST_BEATS} test beats.")
    return ["## Sensitivity and positive predictivity (N, S, V, F)", "",
            "Se = recall, +P = precision, mean over seeds, in the form the inter-patient literature reports "
            f"(de Chazal et al. 2004 and after, which leave Q out). {why}", "",
            tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]


def significance_table(g: SavedGrid) -> str:
    from tabulate import tabulate

    if g.comparisons is None:
        return f"No paired tests: {g.no_comparisons}."
    rows = [[f"{r.model_a} × {r.resampler_a}", f"{r.model_b} × {r.resampler_b}", f"{r.difference:+.4f}",
             f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]", f"{r.p_value:.4f}", f"{r.p_holm:.4f}", r.verdict]
            for r in g.comparisons.itertuples()]
    return tabulate(rows, headers=["cell A", "cell B", "macro F1 A − B", f"{CONFIDENCE:.0%} bootstrap CI", "p", "p (Holm)",
                                   "verdict"], tablefmt="github", disable_numparse=True)


def rank_lines(a: RankAnalysis) -> list[str]:
    """One analysis of :mod:`benchmark.metrics.ranks` in words, and its table of average ranks."""
    from tabulate import tabulate

    what = f"{a.treatment.capitalize()}s ranked by test macro F1 within each {a.block} block"
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
        lines += rank_lines(a) + [""]
    return lines


def data_section(g: SavedGrid) -> list[str]:
    from tabulate import tabulate

    counts = g.manifest.get("class_counts", {})
    if not counts:
        return []
    return ["## Data", "", g.manifest.get("data_source", ""), "", validation_words(g.manifest), "",
            tabulate([[part, *[counts[part][k] for k in CLASSES], sum(counts[part].values())]
                      for part in ("train", "validation", "test") if part in counts],
                     headers=["part", *CLASSES, "total"], tablefmt="github", intfmt=","), ""]


def _distinct(values) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _machine_words(prov: dict) -> str:
    mach = prov.get("machine", {})
    device = prov.get("device", {})
    gpu = f"{device['gpu']}; " if device.get("gpu") else ""
    return (f"{gpu}{mach.get('cpu', '?')}, {mach.get('cores', '?')} cores, {mach.get('memory_gib', '?')} GiB; "
            f"{mach.get('platform', '?')}; Keras backend {prov.get('keras_backend', '?')}")


def validation_words(manifest: dict) -> str:
    """How the validation part was drawn, from the records on each side."""
    if "validation_records" not in manifest:
        return ("Validation part: how it was drawn is not recorded in this grid's manifest; grids of that time "
                "drew a stratified sample of the training part's beats, on every split.")
    train, val = set(manifest["train_records"]), manifest["validation_records"]
    if set(val) & train:
        return "Validation part: a stratified sample of the training records' beats (the same patients)."
    return f"Validation part: {len(val)} whole training records held out ({', '.join(val)}): other patients."


def provenance_section(g: SavedGrid) -> list[str]:
    """What trained the runs, read from the runs themselves (a grid may be filled by several invocations)."""
    runs = [m.get("provenance", {}) for m in g.metrics.values()] or [g.manifest.get("provenance", {})]
    commands = _distinct(f"`{p.get('command', 'unknown')}`" for p in runs)
    commits = _distinct(f"`{p.get('commit', 'unknown')}`" for p in runs)
    machines = _distinct(_machine_words(p) for p in runs)
    versions = _distinct(", ".join(f"{k} {v}" for k, v in p.get("versions", {}).items()) for p in runs)
    train = g.manifest["train"]
    lines = []
    if g.errors:
        lines += ["## Runs without results", ""] + [f"- `{r}`: {e}" for r, e in sorted(g.errors.items())] + [""]
    plural = lambda items, one, many: one if len(items) == 1 else many  # noqa: E731
    return lines + [
        "## Provenance", "",
        f"- {plural(commands, 'Command', 'Commands')}: {'; '.join(commands)}",
        f"- {plural(commits, 'Commit that trained the runs', 'Commits that trained the runs')}: "
        f"{', '.join(commits)}; tables written by the report code at `{git_commit()}`",
        f"- Budget: {train['steps']} optimizer steps of batch {train['batch_size']} for every run, "
        f"validation macro F1 every {train['eval_every']} steps, early stop after {train['patience']} "
        f"checks without gain, Adam lr {train['learning_rate']} × {train['lr_decay']} every "
        f"{train['lr_decay_steps']} steps",
        f"- Data subset (train, validation, test): {g.manifest['data'].get('subset') or 'none (full data)'}",
        *[f"- Machine: {m}" for m in machines],
        *[f"- Libraries: {v}" for v in versions],
        *evaluation_lines(g),
        "", "Rebuild from the saved runs, without training: `python run_benchmark.py report --results-dir DIR "
        f"--split {g.split} --grid {g.store.name}`, DIR being the folder that holds `{g.split}/`.", "",
    ]


def evaluation_lines(g: SavedGrid) -> list[str]:
    """Who scored the saved models on each test set, where it was recorded (it may be another machine)."""
    lines = []
    for name in ("test", *EVALUATED):
        about = g.store.evaluation_about(name)
        if about:
            lines.append(f"- Evaluation `{name}`: `{about.get('command', 'unknown')}` at `{about.get('commit', '?')}`"
                         f" on {_machine_words(about)}" + (f"; {reproduction_words(g)}" if name == "test" else ""))
    return lines


def reproduction_words(g: SavedGrid) -> str:
    """How many saved models predicted exactly what their runs stored for the test part (``evaluate --on test``)."""
    path = g.store.evaluation_path("test")
    table = pd.read_csv(path) if path.exists() else None
    if table is None or "beats_differing" not in table:
        return "reproduction not checked"
    differing = table.beats_differing[table.beats_differing != 0]
    words = f"the saved models reproduced {len(table) - len(differing)} of {len(table)} runs' test predictions exactly"
    if len(differing):
        span = f"{differing.min()}" if differing.min() == differing.max() else f"{differing.min()}–{differing.max()}"
        words += (f"; the others differ in {span} of {len(g.store.test_labels()):,} test beats (the tables use the "
                  "runs' stored predictions)")
    return words


def spread_words(g: SavedGrid) -> str:
    seeds = g.manifest["seeds"]
    what = "mean ± sample std over seeds" if len(seeds) > 1 else "one seed: no spread or interval can be given"
    return f"{what} (seeds {', '.join(map(str, seeds))})"


def test_unit(g: SavedGrid) -> str:
    """What the paired tests resampled, in words."""
    if g.comparisons is None or not len(g.comparisons):
        return "no paired tests"
    first = g.comparisons.iloc[0]
    if first.get("unit", "beat") == "record":
        seeds = "and the seeds" if first.n_seeds > 1 else "one seed: training noise untested"
        return f"paired bootstrap over the {int(first.n_units)} test records (patients), {seeds}"
    return ("paired bootstrap over the test beats (no record of each test beat was saved: beats of one "
            "patient are not independent, so these tests overstate certainty)")


def mark_legend(g: SavedGrid) -> str:
    return (f"▲ / ▼: significantly better / worse than the same model without resampling ({test_unit(g)}; "
            f"Holm-adjusted p < {ALPHA}).")


def summary_markdown(g: SavedGrid) -> str:
    lines = [
        f"# Benchmark results: `{g.split}` split, grid `{g.manifest['grid']}`", "",
        "Test-set macro F1 (primary metric) and per-class recall for every model × resampler, "
        f"{spread_words(g)}. **Bold**: the best resampler for that model by mean macro F1. "
        + (mark_legend(g) + " " if g.comparisons is not None else "")
        + "Resampling touches the training part only; validation and test parts are the same for every run.",
        "", "## Macro F1", "", macro_table(g), "", "## Average ranks", "", *ranks_section(g),
        "## Per-class recall", "", recall_table(g), "",
        "Classes (AAMI EC57): " + "; ".join(f"{k} = {v}" for k, v in CLASS_NAMES.items()) + ".", "",
    ]
    return "\n".join(lines + data_section(g) + provenance_section(g))
