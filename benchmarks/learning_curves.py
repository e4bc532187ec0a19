"""Learning curves (validation macro F1 against optimizer steps) of grid runs, and what doubling a budget gains.

    python benchmarks/learning_curves.py GRID_FOLDER [GRID_FOLDER ...] --out results/learning-curves
        [--models ...] [--resamplers none random] [--budgets 2000 4000 8000]

Reads every finished run's validation history from the grid folders given (``<results>/<split>/<grid>``), and
writes to ``--out``: ``curves.csv`` (one row a check: the run, its grid, model, treatment, seed, step, the
validation macro F1 and the best so far), ``curves.png`` (the best-so-far curves, one panel a model), and
``CURVES.md``: per run, the best validation macro F1 reached by each budget, the gain from doubling it
(best by 2B minus best by B; only where the run trained to 2B without stopping early, else "stopped"), and
whether every model gains less than ``--settled`` from doubling (the issue's settling rule). A budget is chosen
on validation only: this reads no test score.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def read_runs(folders: list[Path], models, resamplers) -> list[dict]:
    runs = []
    for folder in folders:
        manifest = json.loads((folder / "grid.json").read_text())
        for cell, run_id in manifest["cells"].items():
            metrics_path = folder / "runs" / run_id / "metrics.json"
            if not metrics_path.exists():
                continue
            m = json.loads(metrics_path.read_text())
            if (models and m["model"] not in models) or (resamplers and m["resampler"] not in resamplers):
                continue
            if not m.get("history") or m["history"][0].get("train_loss") is None:  # not trained in steps
                continue
            runs.append({"grid": f"{folder.parent.name}/{folder.name}", "model": m["model"],
                         "resampler": m["resampler"], "seed": m["seed"], "run_id": run_id,
                         "steps": m["train_config"]["steps"], "patience": m["train_config"]["patience"],
                         "stopped_early": m["stopped_early"], "history": m["history"],
                         "tuned": m["identity"].get("tuned", {}), "builder": m["identity"].get("builder", {}),
                         "lr_schedule": m["train_config"].get("lr_schedule", "step"),
                         "commit": m.get("provenance", {}).get("commit", "?")})
    return runs


def best_by(history: list[dict], budget: int) -> float | None:
    """The best validation macro F1 of the checks at or before ``budget``; None when the run never got there."""
    if history[-1]["step"] < budget:
        return None
    return max(h["val_macro_f1"] for h in history if h["step"] <= budget)


def label(run: dict) -> str:
    builder = run["builder"]
    extra = ""
    if run["model"] == "lstm":
        extra = f" ({builder.get('layers', 2)} layer(s), {builder.get('readout', 'last')} readout)"
    return f"{run['model']}{extra} × {run['resampler']}, seed {run['seed']}"


def write(runs: list[dict], out: Path, budgets: list[int], settled: float, command: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    from tabulate import tabulate

    from benchmark.provenance import git_commit, machine

    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for run in runs:
        best = -1.0
        for h in run["history"]:
            best = max(best, h["val_macro_f1"])
            rows.append({"grid": run["grid"], "run_id": run["run_id"], "label": label(run), "model": run["model"],
                         "resampler": run["resampler"], "seed": run["seed"], "step": h["step"],
                         "val_macro_f1": round(h["val_macro_f1"], 6), "best_so_far": round(best, 6)})
    pd.DataFrame(rows).to_csv(out / "curves.csv", index=False)

    models = sorted({r["model"] for r in runs})
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.6), squeeze=False, sharey=True)
    for ax, model in zip(axes[0], models):
        for run in (r for r in runs if r["model"] == model):
            steps = [h["step"] for h in run["history"]]
            best = pd.Series([h["val_macro_f1"] for h in run["history"]]).cummax()
            ax.plot(steps, best, label=label(run).split(" × ", 1)[1] + f" [{run['grid'][:32]}]",
                    linestyle="--" if run["grid"].startswith("inter") else "-")
        ax.set_title(model)
        ax.set_xlabel("optimizer steps")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("best validation macro F1 so far")
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=120)

    table, worst = [], {}
    for run in runs:
        row = [label(run), run["grid"], f"{run['history'][-1]['step']:,}" + (" (stopped early)" if run["stopped_early"]
                                                                                else "")]
        for budget in budgets:
            now, doubled = best_by(run["history"], budget), best_by(run["history"], 2 * budget)
            if now is None:
                row.append("not reached")
            elif doubled is None:
                row.append(f"{now:.3f} (2× not reached)" if not run["stopped_early"] else f"{now:.3f}, stopped")
            else:
                gain = doubled - now
                key = (run["grid"].split("/")[0], run["model"], budget)
                worst[key] = max(worst.get(key, -1.0), gain)
                row.append(f"{now:.3f} → {doubled:.3f} ({gain:+.3f})")
        table.append(row)
    m = machine()
    lines = [
        "# Learning curves: validation macro F1 against the budget", "",
        f"Written by `{command}` at commit {git_commit()} on {m['cpu']} ({m['cores']} cores). The runs are those "
        "of the grid folders named in each row (each its own command, commit and machine, in its `grid.json`); "
        "only validation scores are read.", "",
        "Each cell: the best validation macro F1 by budget B → by 2B (the gain from doubling B). A run that stopped "
        "early (its patience ran out) has no 2B; a run that trained fewer than 2B steps says so.", "",
        tabulate(table, headers=["run", "grid", "steps trained", *[f"B = {b:,}" for b in budgets]],
                 tablefmt="github", disable_numparse=True), "",
        f"## Settled? (doubling gains less than {settled})", "",
    ]
    for split in sorted({k[0] for k in worst}):
        for budget in budgets:
            gains = {model: g for (sp, model, b), g in worst.items() if b == budget and sp == split}
            if not gains:
                continue
            verdict = ", ".join(f"{model} {'settled' if g < settled else 'not settled'} (largest gain {g:+.3f})"
                                for model, g in sorted(gains.items()))
            lines.append(f"- {split}, B = {budget:,}: {verdict}")
    lines += ["", "![best validation macro F1 so far](curves.png)", ""]
    (out / "CURVES.md").write_text("\n".join(lines))


def main() -> None:
    import shlex

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--models", nargs="+")
    p.add_argument("--resamplers", nargs="+", default=["none", "random"])
    p.add_argument("--budgets", type=int, nargs="+", default=[2000, 4000, 6000, 8000, 12000])
    p.add_argument("--settled", type=float, default=0.005)
    args = p.parse_args()
    runs = read_runs(args.folders, args.models, args.resamplers)
    if not runs:
        sys.exit("no finished run with a validation history in " + ", ".join(map(str, args.folders)))
    write(runs, args.out, args.budgets, args.settled, "python benchmarks/learning_curves.py " + shlex.join(sys.argv[1:]))
    print(f"wrote {args.out}/CURVES.md, curves.csv, curves.png from {len(runs)} runs")


if __name__ == "__main__":
    main()
