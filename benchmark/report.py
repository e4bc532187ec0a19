"""Turn saved runs into the tables a reviewer reads: runs.csv, summary.csv, summary.md, and
(with :mod:`benchmark.narrative`) REPORT.md with its figures.

Reads only ``<results>/<split>/grid.json`` and the runs' ``metrics.json``/``error.json``, so it can be
rebuilt at any time without training (``python run_benchmark.py report``). The same saved runs
always give byte-identical files.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.beats import CLASSES
from benchmark.provenance import git_commit
from benchmark.ranks import RankAnalysis, rank_analyses
from benchmark.stats import t_interval
from benchmark.storage import write_text

CLASS_NAMES = {"N": "normal", "S": "supraventricular ectopic", "V": "ventricular ectopic",
               "F": "fusion", "Q": "unknown / paced"}


def load_runs(split_dir: Path) -> tuple[dict, pd.DataFrame, dict[str, str], dict[str, dict]]:
    """The grid manifest, one tidy row per finished run, {run_id: error} for runs without results,
    and {run_id: metrics} for finished ones."""
    manifest_path = split_dir / "grid.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{manifest_path}: no grid has been run here; run a grid first")
    manifest = json.loads(manifest_path.read_text())
    rows, errors, metrics = [], {}, {}
    for run_id in manifest["runs"]:
        run_dir = split_dir / "runs" / run_id
        if (run_dir / "metrics.json").exists():
            m = metrics[run_id] = json.loads((run_dir / "metrics.json").read_text())
            t = m["test"]
            rows.append({
                "model": m["model"], "resampler": m["resampler"], "seed": m["seed"],
                "macro_f1": t["macro_f1"], "accuracy": t["accuracy"],
                "balanced_accuracy": t["balanced_accuracy"],
                **{f"recall_{c}": t["recall"][c] for c in CLASSES},
                **{f"precision_{c}": t["precision"][c] for c in CLASSES},
                **{f"f1_{c}": t["f1"][c] for c in CLASSES},
                "macro_f1_nsvf": float(np.mean([t["f1"][c] for c in LITERATURE_CLASSES])),
                "best_val_macro_f1": m["best_val_macro_f1"], "best_step": m["best_step"],
                "steps_trained": m["steps_trained"], "train_size": sum(m["resampling"]["train_class_counts"].values()),
                "resample_seconds": m["resampling"]["seconds"], "train_seconds": m["seconds"]["train"],
                "inference_seconds": m["seconds"]["inference"], "run_id": run_id,
            })
        elif (run_dir / "error.json").exists():
            errors[run_id] = json.loads((run_dir / "error.json").read_text())["error"]
        else:
            errors[run_id] = "not run yet"
    return manifest, pd.DataFrame(rows), errors, metrics


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
    """Everything the report needs, read from one split directory."""

    split: str
    manifest: dict
    runs: pd.DataFrame
    errors: dict[str, str]
    metrics: dict[str, dict]
    summary: pd.DataFrame
    comparisons: pd.DataFrame | None
    no_comparisons: str  # why there are no paired tests, when there are none
    ranks: dict[str, RankAnalysis]  # average ranks of the resamplers and of the models

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


def read_grid(results_dir: Path, split: str, n_boot: int = 2000, compare: bool = True) -> SavedGrid:
    from benchmark.comparisons import compare_cells
    from benchmark.runner import PREDICTIONS, TEST_LABELS, TEST_RECORDS

    split_dir = Path(results_dir) / split
    manifest, runs, errors, metrics = load_runs(split_dir)
    summary = summarise(runs, manifest["models"], manifest["resamplers"])
    comparisons, why = None, ""
    missing = [r for r in runs.get("run_id", []) if not (split_dir / "runs" / r / PREDICTIONS).exists()]
    if not compare:
        why = "not computed"
    elif not len(runs):
        why = "no finished runs"
    elif missing or not (split_dir / TEST_LABELS).exists():
        why = (f"{len(missing)} of {len(runs)} runs have no saved test predictions (runs trained before "
               f"predictions were saved); rerun them with --overwrite to enable paired tests")
    else:
        y_true = np.load(split_dir / TEST_LABELS)
        predictions = {r: np.load(split_dir / "runs" / r / PREDICTIONS) for r in runs.run_id}
        records = split_dir / TEST_RECORDS
        groups = np.load(records) if records.exists() else None
        comparisons = compare_cells(runs, summary, predictions, y_true, manifest["models"],
                                    manifest["resamplers"], n_boot=n_boot, groups=groups)
    ranks = rank_analyses(runs, manifest["models"], manifest["resamplers"])
    return SavedGrid(split, manifest, runs, errors, metrics, summary, comparisons, why, ranks)


def _marks(g: SavedGrid) -> dict[tuple[str, str], str]:
    """▲ / ▼ for cells significantly better / worse than the same model without resampling."""
    if g.comparisons is None or not len(g.comparisons):
        return {}
    vs_none = g.comparisons[g.comparisons.family == "resampler vs none"]
    return {(r.model_a, r.resampler_a): {"gain": " ▲", "loss": " ▼"}.get(r.verdict, "")
            for r in vs_none.itertuples()}


def macro_table(g: SavedGrid) -> str:
    from tabulate import tabulate

    marks, table = _marks(g), []
    for model in g.models:
        row = [model]
        for resampler in g.resamplers:
            c = g.cell(model, resampler)
            if c is None:
                row.append("failed" if any(r.startswith(f"{model}__{resampler}__") for r in g.errors) else "—")
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
    return tabulate(rows, headers=["model", "resampler", "seeds", "macro F1", "macro F1 95% CI (t)", *CLASSES],
                    tablefmt="github", disable_numparse=True)


LITERATURE_CLASSES = ("N", "S", "V", "F")  # what the inter-patient literature reports (de Chazal 2004 onwards)
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
           if few else "Every class has at least 30 test beats.")
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
    return tabulate(rows, headers=["cell A", "cell B", "macro F1 A − B", "95% bootstrap CI", "p", "p (Holm)",
                                   "verdict"], tablefmt="github", disable_numparse=True)


def rank_lines(a: RankAnalysis) -> list[str]:
    """One analysis of :mod:`benchmark.ranks` in words, and its table of average ranks."""
    from tabulate import tabulate

    what = f"{a.treatment.capitalize()}s ranked by test macro F1 within each {a.block} block"
    if not a.computed:
        return [f"{what}: not computed, {a.reason}."]
    dropped = f", {a.n_incomplete} more dropped for a missing run" if a.n_incomplete else ""
    words = (f"{what} ({a.n_blocks} blocks{dropped}; rank 1 = highest, ties share the mean rank). "
             f"{a.test} (α = {a.alpha}): ")
    if a.significant:
        pairs = ", ".join(f"{x} > {y}" for x, y in a.different_pairs()) or "none"
        words += (f"Friedman p = {a.p_value:.4f}, so the {a.treatment}s do not all rank alike; critical "
                  f"difference CD = {a.cd:.2f}. Pairs whose average ranks differ by more than CD (better "
                  f"first): {pairs}.")
    else:
        words += (f"Friedman p = {a.p_value:.4f} ≥ {a.alpha}: no evidence that the {a.treatment}s rank "
                  f"differently, so no post-hoc test and no diagram (Demšar 2006).")
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
    return ["## Data", "", g.manifest.get("data_source", ""), "",
            tabulate([[part, *[counts[part][k] for k in CLASSES], sum(counts[part].values())]
                      for part in ("train", "validation", "test") if part in counts],
                     headers=["part", *CLASSES, "total"], tablefmt="github", intfmt=","), ""]


def provenance_section(g: SavedGrid) -> list[str]:
    prov = g.manifest.get("provenance", {})
    mach = prov.get("machine", {})
    versions = ", ".join(f"{k} {v}" for k, v in prov.get("versions", {}).items())
    train = g.manifest["train"]
    lines = []
    if g.errors:
        lines += ["## Runs without results", ""] + [f"- `{r}`: {e}" for r, e in sorted(g.errors.items())] + [""]
    return lines + [
        "## Provenance", "",
        f"- Command: `{prov.get('command', 'unknown')}`",
        f"- Commit that trained the runs: `{prov.get('commit', 'unknown')}`; tables written by the report "
        f"code at `{git_commit()}`",
        f"- Budget: {train['steps']} optimizer steps of batch {train['batch_size']} for every run, "
        f"validation macro F1 every {train['eval_every']} steps, early stop after {train['patience']} "
        f"checks without gain, Adam lr {train['learning_rate']} × {train['lr_decay']} every "
        f"{train['lr_decay_steps']} steps",
        f"- Data subset (train, validation, test): {g.manifest['data'].get('subset') or 'none (full data)'}",
        f"- Machine: {mach.get('cpu', '?')}, {mach.get('cores', '?')} cores, {mach.get('memory_gib', '?')} GiB; "
        f"{mach.get('platform', '?')}; Keras backend {prov.get('keras_backend', '?')}",
        f"- Libraries: {versions}",
        "", "Rebuild from the saved runs, without training: `python run_benchmark.py report`.", "",
    ]


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
            "Holm-adjusted p < 0.05).")


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


def write_report(results_dir: Path, split: str, figures: bool = True) -> list[Path]:
    """Write runs.csv, summary.csv, summary.md (and REPORT.md with figures) for one split."""
    from benchmark.narrative import write_full_report

    g = read_grid(results_dir, split)
    split_dir = Path(results_dir) / split
    paths = [split_dir / "runs.csv", split_dir / "summary.csv", split_dir / "summary.md"]
    write_text(paths[0], g.runs.to_csv(index=False, float_format="%.6f"))
    write_text(paths[1], g.summary.to_csv(index=False, float_format="%.6f"))
    write_text(paths[2], summary_markdown(g))
    if g.comparisons is not None:
        paths.append(split_dir / "significance.csv")
        write_text(paths[-1], g.comparisons.to_csv(index=False, float_format="%.6f"))
    if figures and len(g.runs):
        paths += write_full_report(g, split_dir)
    return paths
