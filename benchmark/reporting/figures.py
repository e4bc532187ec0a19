"""Report figures (matplotlib, PNG) drawn from saved runs; no training, no data access."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DPI = 120


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "svg.hashsalt": "ecg",
                         "figure.constrained_layout.use": True})
    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # no version stamp, so rebuilt figures are identical; 'tight' keeps titles and labels inside
    fig.savefig(path, dpi=DPI, metadata={"Software": None}, bbox_inches="tight", pad_inches=0.1)
    _pyplot().close(fig)
    return path


def resampler_label(name: str) -> str:
    """A resampler as a figure names it: its parameters one per line (``under_over[a=1,b=2]`` would squeeze a
    legend's panels or a heatmap's axes to nothing on one line); a name without parameters as it is."""
    base, bracket, params = name.partition("[")
    return base + "\n" + "\n".join(params.removesuffix("]").split(",")) if bracket else name


def _label_width(labels) -> float:
    """Inches of the longest line of ``labels`` at the figures' 9-point font."""
    return 0.065 * max((len(line) for label in labels for line in label.split("\n")), default=0)


FAILED, NOT_RUN = "failed", "not run"  # what a heatmap cell without a score says


def heatmap_cells(summary: pd.DataFrame, failed_runs, models, resamplers) -> tuple[np.ndarray, list[list[str]]]:
    """(mean primary score (``score_mean``) of every model × resampler cell, NaN without a score; what each cell without a score
    is: "failed" when one of its runs failed, "not run" when none was tried, "" for a scored cell), so a
    failure is never read as a cell that simply has not been run yet."""
    grid = np.full((len(models), len(resamplers)), np.nan)
    for _, r in summary.iterrows():
        grid[models.index(r.model), resamplers.index(r.resampler)] = r.score_mean
    status = [["" if np.isfinite(grid[i, j]) else
               FAILED if any(run.startswith(f"{m}__{r}__") for run in failed_runs) else NOT_RUN
               for j, r in enumerate(resamplers)] for i, m in enumerate(models)]
    return grid, status


def heatmap(summary: pd.DataFrame, failed_runs, models, resamplers, path: Path, title: str) -> Path:
    """Mean primary score per cell; a failed cell hatched and marked "failed", a cell never run left blank."""
    from matplotlib.patches import Rectangle

    plt = _pyplot()
    grid, status = heatmap_cells(summary, failed_runs, models, resamplers)
    labels = [resampler_label(r) for r in resamplers]
    fig, ax = plt.subplots(figsize=(max(1.3, _label_width(labels)) * len(resamplers) + 2, 0.6 * len(models) + 1.6))
    vmin = float(np.nanmin(grid)) if np.isfinite(grid).any() else 0.0
    im = ax.imshow(grid, cmap="viridis", vmin=vmin, vmax=1)
    for i in range(len(models)):
        for j in range(len(resamplers)):
            if status[i][j]:
                if status[i][j] == FAILED:
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="tab:red",
                                           lw=0))
                ax.text(j, i, status[i][j], ha="center", va="center", color="black",
                        fontweight="bold" if status[i][j] == FAILED else "normal")
                continue
            # viridis is dark below ~60% of its range: white text there, black above
            light = (grid[i, j] - vmin) < 0.6 * (1 - vmin)
            ax.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", color="white" if light else "black")
    ax.set_xticks(range(len(resamplers)), labels)
    ax.set_yticks(range(len(models)), models)
    ax.set_xlabel("resampler")
    ax.set_ylabel("model")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="test macro F1 (mean over seeds)")
    return _save(fig, path)


def recall_bars(summary: pd.DataFrame, models, resamplers, path: Path, classes) -> Path:
    """Mean test recall of each of the task's ``classes``, a bar per resampler, a panel per model."""
    classes = list(classes)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(models), figsize=(3.2 * len(models), 3.2), sharey=True, squeeze=False)
    width = 0.8 / len(resamplers)
    colours = plt.get_cmap("tab10")
    for ax, model in zip(axes[0], models):
        for k, resampler in enumerate(resamplers):
            cell = summary[(summary.model == model) & (summary.resampler == resampler)]
            if not len(cell):
                continue
            c = cell.iloc[0]
            means = [c[f"recall_{x}_mean"] for x in classes]
            stds = [c[f"recall_{x}_std"] for x in classes]
            ax.bar(np.arange(len(classes)) + (k - (len(resamplers) - 1) / 2) * width, means, width,
                   yerr=None if np.isnan(stds).all() else stds,
                   label=resampler_label(resampler) if model == models[0] else None,
                   color=colours(k), capsize=1.5)
        ax.set_xticks(range(len(classes)), classes)
        ax.set_title(model)
        ax.set_xlabel("class")
        ax.set_ylim(0, 1.05)
    axes[0][0].set_ylabel("test recall")
    fig.legend(title="resampler", loc="outside right center", fontsize=7)
    return _save(fig, path)


def confusion_matrices(best: dict[str, tuple[str, np.ndarray]], path: Path, classes) -> Path:
    """``best``: model -> (resampler, confusion matrix summed over seeds); ``classes``: the task's."""
    classes = list(classes)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(best), figsize=(3.1 * len(best), 3.6), squeeze=False)
    for ax, (model, (resampler, cm)) in zip(axes[0], best.items()):
        cm = np.asarray(cm, dtype=float)
        rates = np.divide(cm, cm.sum(axis=1, keepdims=True), out=np.zeros_like(cm), where=cm.sum(axis=1, keepdims=True) > 0)
        ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(classes)):
            for j in range(len(classes)):
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=7,
                        color="white" if rates[i, j] > 0.5 else "black")
        ax.set_xticks(range(len(classes)), classes)
        ax.set_yticks(range(len(classes)), classes)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(f"{model} × {resampler}")
    return _save(fig, path)


def validation_curves(histories: dict[tuple[str, str], list[list[dict]]], models, resamplers, path: Path) -> Path:
    """``histories``: (model, resampler) -> one history per seed."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(models), figsize=(3.2 * len(models), 3.0), sharey=True, squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, model in zip(axes[0], models):
        for k, resampler in enumerate(resamplers):
            for s, history in enumerate(histories.get((model, resampler), [])):
                ax.plot([h["step"] for h in history], [h["val_macro_f1"] for h in history], color=colours(k),
                        marker=".", lw=1, label=resampler_label(resampler) if s == 0 else None)
        ax.set_title(model)
        ax.set_xlabel("optimizer step")
    axes[0][0].set_ylabel("validation macro F1")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, title="resampler", loc="outside right center", fontsize=7)
    return _save(fig, path)


def cost_vs_f1(runs: pd.DataFrame, models, resamplers, path: Path, column: str = "macro_f1",
               label: str = "macro F1") -> Path:
    """Each run's wall time against its test score (``column``, in words ``label``)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    markers = dict(zip(models, "osD^v<>p"))
    colours = plt.get_cmap("tab10")
    for k, resampler in enumerate(resamplers):
        for model in models:
            cell = runs[(runs.model == model) & (runs.resampler == resampler)]
            if len(cell):
                ax.scatter(cell.resample_seconds + cell.train_seconds, cell[column], marker=markers[model],
                           color=colours(k), s=28)
    for k, resampler in enumerate(resamplers):
        ax.scatter([], [], color=colours(k), label=resampler_label(resampler))
    for model in models:
        ax.scatter([], [], marker=markers[model], color="grey", label=model)
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))  # 1-2-5 ticks: readable over any range
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("resampling + training wall time per run (s, log scale)")
    ax.set_ylabel(f"test {label}")
    fig.legend(fontsize=7, loc="outside right center")
    return _save(fig, path)


def noise_curves(curves: dict[tuple[str, str], dict], models, resamplers, snrs: list[int], path: Path) -> Path:
    """Macro F1 over SNR on nstdb's noisy segments, one panel per model and a line per resampler; the
    clean segments' score at the right, dashed."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(models), figsize=(3.2 * len(models), 2.8), sharey=True, squeeze=False)
    for ax, model in zip(axes[0], models):
        for k, resampler in enumerate(resamplers):
            curve = curves.get((model, resampler))
            if curve is None:
                continue
            line, = ax.plot(snrs, [curve["snr"][s] for s in snrs], marker="o", ms=3, label=resampler_label(resampler))
            ax.axhline(curve["clean"], color=line.get_color(), ls="--", lw=0.8)
        ax.set_title(model)
        ax.set_xlabel("SNR (dB)")
        ax.set_xticks(snrs)
    axes[0][0].set_ylabel("macro F1 (noisy segments)")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def learning_curves(panels: dict[str, dict], path: Path, ylabel: str) -> Path:
    """Transfer learning curves: one panel per source cell (``panels``: title -> {"lines": [(label, fractions,
    scores, colour index, dashed)], "level": (label, score) or None}), score over the fraction of the target's
    fine-tuning part (log scale), the saved model's zero-shot score as a dotted level."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.0), sharey=True, squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, (title, panel) in zip(axes[0], panels.items()):
        for label, xs, ys, colour, dashed in panel["lines"]:
            ax.plot(xs, ys, marker="o", ms=3, lw=1.2, color=colours(colour), ls="--" if dashed else "-", label=label)
        if panel.get("level") is not None:
            label, level = panel["level"]
            ax.axhline(level, color="black", ls=":", lw=1, label=label)
        fractions = sorted({x for _, xs, _, _, _ in panel["lines"] for x in xs})
        ax.set_xscale("log")
        if fractions:
            ax.set_xticks(fractions, [f"{100 * f:g}%" for f in fractions])
            ax.minorticks_off()
        ax.set_title(title)
        ax.set_xlabel("share of the fine-tuning records")
    axes[0][0].set_ylabel(ylabel)
    handles = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), loc="outside right center", fontsize=7)
    return _save(fig, path)


def optimisation_history(trials: pd.DataFrame, path: Path, title: str) -> Path:
    """A tuning study's trials in order: each trial's validation macro F1 (completed: dots; pruned: crosses at
    the best score they reached; failed: ticks along the bottom) and the best completed score so far.
    ``trials``: columns ``number``, ``state`` (COMPLETE, PRUNED, FAIL) and ``value``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    complete = trials[trials.state == "COMPLETE"]
    pruned = trials[(trials.state == "PRUNED") & trials.value.notna()]
    failed = trials[trials.state == "FAIL"]
    ax.scatter(complete.number, complete.value, s=18, color="tab:blue", label="completed", zorder=3)
    ax.scatter(pruned.number, pruned.value, s=22, marker="x", color="tab:grey", label="pruned (best so far)", zorder=2)
    if len(complete):
        ordered = complete.sort_values("number")
        ax.step(ordered.number, ordered.value.cummax(), where="post", color="tab:orange", label="best so far")
    low = float(np.nanmin(trials.value)) if trials.value.notna().any() else 0.0
    if len(failed):
        ax.scatter(failed.number, np.full(len(failed), low), marker="|", s=80, color="tab:red", label="failed")
    ax.set_xlabel("trial")
    ax.set_ylabel("validation macro F1")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def parameter_importances(importances: dict[str, float], path: Path, title: str) -> Path:
    """A tuning study's parameter importances (shares of the score's variance, fANOVA), largest on top."""
    plt = _pyplot()
    names = list(importances)[::-1]
    fig, ax = plt.subplots(figsize=(5.5, 0.35 * len(names) + 1.2))
    ax.barh(names, [importances[n] for n in names], color="tab:blue")
    for i, n in enumerate(names):
        ax.text(importances[n], i, f" {importances[n]:.2f}", va="center", fontsize=7)
    ax.set_xlim(0, 1.1 * max(importances.values(), default=1) or 1)
    ax.set_xlabel("importance (share of the validation macro F1's variance)")
    ax.set_title(title)
    return _save(fig, path)
