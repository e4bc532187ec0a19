"""Turn saved runs into the tables a reviewer reads: runs.csv, summary.csv and summary.md.

Reads only ``<results>/<split>/grid.json`` and the runs' ``metrics.json``/``error.json``, so it can be
rebuilt at any time without training (``python run_benchmark.py report``). The same saved runs
always give byte-identical files.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.beats import CLASSES
from benchmark.provenance import git_commit
from benchmark.storage import write_text

CLASS_NAMES = {"N": "normal", "S": "supraventricular ectopic", "V": "ventricular ectopic",
               "F": "fusion", "Q": "unknown / paced"}


def load_runs(split_dir: Path) -> tuple[dict, pd.DataFrame, dict[str, str]]:
    """The grid manifest, one tidy row per finished run, and {run_id: error} for failed ones."""
    manifest_path = split_dir / "grid.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{manifest_path}: no grid has been run here; run a grid first")
    manifest = json.loads(manifest_path.read_text())
    rows, errors = [], {}
    for run_id in manifest["runs"]:
        run_dir = split_dir / "runs" / run_id
        if (run_dir / "metrics.json").exists():
            m = json.loads((run_dir / "metrics.json").read_text())
            t = m["test"]
            rows.append({
                "model": m["model"], "resampler": m["resampler"], "seed": m["seed"],
                "macro_f1": t["macro_f1"], "accuracy": t["accuracy"],
                "balanced_accuracy": t["balanced_accuracy"],
                **{f"recall_{c}": t["recall"][c] for c in CLASSES},
                **{f"precision_{c}": t["precision"][c] for c in CLASSES},
                **{f"f1_{c}": t["f1"][c] for c in CLASSES},
                "best_val_macro_f1": m["best_val_macro_f1"], "best_step": m["best_step"],
                "steps_trained": m["steps_trained"], "train_size": sum(m["resampling"]["train_class_counts"].values()),
                "resample_seconds": m["resampling"]["seconds"], "train_seconds": m["seconds"]["train"],
                "inference_seconds": m["seconds"]["inference"], "run_id": run_id,
            })
        elif (run_dir / "error.json").exists():
            errors[run_id] = json.loads((run_dir / "error.json").read_text())["error"]
        else:
            errors[run_id] = "not run yet"
    return manifest, pd.DataFrame(rows), errors


def summarise(runs: pd.DataFrame, models: list[str], resamplers: list[str]) -> pd.DataFrame:
    """Mean and sample standard deviation over seeds for every (model, resampler) that has runs."""
    metrics = ["macro_f1", *[f"recall_{c}" for c in CLASSES], "accuracy", "balanced_accuracy"]
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
            out.append(row)
    summary = pd.DataFrame(out)
    if len(summary):
        best = summary.groupby("model")["macro_f1_mean"].transform("max")
        summary["best_for_model"] = summary["macro_f1_mean"] == best
    return summary


def _pm(mean: float, std: float) -> str:
    return f"{mean:.3f}" if np.isnan(std) else f"{mean:.3f} ± {std:.3f}"


def _markdown(manifest: dict, summary: pd.DataFrame, errors: dict[str, str], split: str) -> str:
    from tabulate import tabulate

    prov = manifest.get("provenance", {})
    mach = prov.get("machine", {})
    versions = ", ".join(f"{k} {v}" for k, v in prov.get("versions", {}).items())
    seeds = manifest["seeds"]
    spread = "mean ± sample std over seeds" if len(seeds) > 1 else "one seed: no spread can be given"
    lines = [
        f"# Benchmark results: `{split}` split, grid `{manifest['grid']}`",
        "",
        "Test-set macro F1 (primary metric) and per-class recall for every model × resampler, "
        f"{spread} (seeds {', '.join(map(str, seeds))}). **Bold**: the best resampler for that model "
        "by mean macro F1. Resampling touches the training part only; validation and test parts are "
        "the same for every run.",
        "",
        "## Macro F1",
        "",
    ]
    models, resamplers = manifest["models"], manifest["resamplers"]
    table = []
    for model in models:
        row = [model]
        for resampler in resamplers:
            cell = summary[(summary.model == model) & (summary.resampler == resampler)] if len(summary) else summary
            if not len(cell):
                row.append("failed" if any(r.startswith(f"{model}__{resampler}__") for r in errors) else "—")
                continue
            c = cell.iloc[0]
            text = _pm(c.macro_f1_mean, c.macro_f1_std)
            row.append(f"**{text}**" if c.best_for_model else text)
        table.append(row)
    lines += [tabulate(table, headers=["model", *resamplers], tablefmt="github", disable_numparse=True), "",
              "## Per-class recall", ""]
    recall_rows = []
    for _, c in summary.iterrows():
        name = f"**{c.resampler}**" if c.best_for_model else c.resampler
        recall_rows.append([c.model, name, c.n_seeds, _pm(c.macro_f1_mean, c.macro_f1_std),
                            *[_pm(c[f"recall_{k}_mean"], c[f"recall_{k}_std"]) for k in CLASSES]])
    lines += [tabulate(recall_rows, headers=["model", "resampler", "seeds", "macro F1", *CLASSES],
                       tablefmt="github", disable_numparse=True), "",
              "Classes (AAMI EC57): " + "; ".join(f"{k} = {v}" for k, v in CLASS_NAMES.items()) + ".", ""]
    counts = manifest.get("class_counts", {})
    if counts:
        lines += ["## Data", "", manifest.get("data_source", ""), "",
                  tabulate([[part, *[counts[part][k] for k in CLASSES], sum(counts[part].values())]
                            for part in ("train", "validation", "test") if part in counts],
                           headers=["part", *CLASSES, "total"], tablefmt="github", intfmt=","), ""]
    if errors:
        lines += ["## Runs without results", ""] + [f"- `{r}`: {e}" for r, e in sorted(errors.items())] + [""]
    train = manifest["train"]
    lines += [
        "## Provenance", "",
        f"- Command: `{prov.get('command', 'unknown')}`",
        f"- Commit that trained the runs: `{prov.get('commit', 'unknown')}`; tables written by the report "
        f"code at `{git_commit()}`",
        f"- Budget: {train['steps']} optimizer steps of batch {train['batch_size']} for every run, "
        f"validation macro F1 every {train['eval_every']} steps, early stop after {train['patience']} "
        f"checks without gain, Adam lr {train['learning_rate']} × {train['lr_decay']} every "
        f"{train['lr_decay_steps']} steps",
        f"- Data subset (train, validation, test): {manifest['data'].get('subset') or 'none (full data)'}",
        f"- Machine: {mach.get('cpu', '?')}, {mach.get('cores', '?')} cores, {mach.get('memory_gib', '?')} GiB; "
        f"{mach.get('platform', '?')}; Keras backend {prov.get('keras_backend', '?')}",
        f"- Libraries: {versions}",
        "", "Rebuild these tables from the saved runs with `python run_benchmark.py report`.", "",
    ]
    return "\n".join(lines)


def write_report(results_dir: Path, split: str) -> list[Path]:
    """Write runs.csv, summary.csv and summary.md for one split; returns their paths."""
    split_dir = Path(results_dir) / split
    manifest, runs, errors = load_runs(split_dir)
    summary = summarise(runs, manifest["models"], manifest["resamplers"])
    paths = [split_dir / "runs.csv", split_dir / "summary.csv", split_dir / "summary.md"]
    write_text(paths[0], runs.to_csv(index=False, float_format="%.6f"))
    write_text(paths[1], summary.to_csv(index=False, float_format="%.6f"))
    write_text(paths[2], _markdown(manifest, summary, errors, split))
    return paths
