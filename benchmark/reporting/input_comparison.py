"""Two grids that differ only in what their models see of a beat (``benchmark.data.inputs``), compared
cell by cell: does an input option (RR intervals, say) help each model, on the same test part?

For every (model, resampler, seed) run the two grids share, the per-class sensitivity (Se) and positive
predictivity (+P) of N, S, V, F in the inter-patient literature's form, the split's primary score (macro F1,
over N, S, V and F on an inter-patient split) and a paired bootstrap of
the macro-F1 difference over the test records (patients), Holm-adjusted over the models with the
draw-independent verdicts of ``benchmark.metrics.comparisons.decide``. Every sentence is computed from them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.data.inputs import inputs_of
from benchmark.errors import DataError
from benchmark.metrics.comparisons import ALPHA, BOOT_SEED, N_BOOT, PairedTest, decide
from benchmark.metrics.evaluator import evaluate
from benchmark.reporting.analysis import COLLAPSED, primary_score
from benchmark.reporting.tidy import load_grid
from benchmark.store import GridStore
from benchmark.tasks import task_of

SAME = ("split", "train", "task")  # what two compared grids must share (beside their test part)


@dataclass
class InputComparison:
    base: GridStore
    other: GridStore
    table: pd.DataFrame  # one row per shared cell: both sides' metrics, the difference and its verdict
    markdown: str


def _describe(manifest: dict) -> str:
    return inputs_of(manifest).describe()


def _check_comparable(a: GridStore, b: GridStore, ta, tb) -> None:
    for key in SAME:
        if a.manifest().get(key) != b.manifest().get(key):
            raise DataError(f"{a.path} and {b.path} differ in their {key}, not only in their input; compare grids "
                            "made with the same options but the input ones (--truncate, --beat-stats, --rr)")
    if not (np.array_equal(ta.y_true, tb.y_true) and np.array_equal(ta.records, tb.records)):
        raise DataError(f"{a.path} and {b.path} were tested on different test parts; nothing can be paired")
    if inputs_of(a.manifest()) == inputs_of(b.manifest()):
        raise DataError(f"{a.path} and {b.path} have the same input ({_describe(a.manifest())}); nothing to compare")


def compare_inputs(base: GridStore, other: GridStore, n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> InputComparison:
    """``other`` against ``base``, cell by cell (module docstring)."""
    from benchmark.literature import published_s_f1

    ta, tb = load_grid(base), load_grid(other)
    _check_comparable(base, other, ta, tb)
    task = task_of(base.manifest())
    reported = task.reported
    score = primary_score(base.manifest().get("split", base.split), task)  # inter: macro F1 over N, S, V, F
    rows, tests = [], []
    cells = sorted(set(zip(ta.runs.model, ta.runs.resampler)) & set(zip(tb.runs.model, tb.runs.resampler)),
                   key=lambda c: (base.manifest()["models"].index(c[0]), c[1]))
    for model, resampler in cells:
        pick = lambda t: t.runs[(t.runs.model == model) & (t.runs.resampler == resampler)]  # noqa: E731
        ra, rb = pick(ta), pick(tb)
        seeds = sorted(set(ra.seed) & set(rb.seed))
        ids_a = [ra[ra.seed == s].run_id.iloc[0] for s in seeds]
        ids_b = [rb[rb.seed == s].run_id.iloc[0] for s in seeds]
        row = {"model": model, "resampler": resampler, "seeds": len(seeds)}
        for side, ids, tidy in (("base", ids_a, ta), ("other", ids_b, tb)):
            scores = [evaluate(tidy.y_true, tidy.predictions[i], classes=task.classes) for i in ids]
            chosen = tidy.runs.set_index("run_id").loc[ids]
            row[f"{side}_train_seconds"] = float(chosen["train_seconds"].mean())
            collapsed = chosen[chosen["collapsed"]] if "collapsed" in chosen else chosen.iloc[:0]
            row[f"{side}_collapsed"] = "; ".join(sorted(set(collapsed["collapse_reason"].astype(str))))
            row[f"{side}_macro_f1"] = float(np.mean([
                s["macro_f1"] if score.classes is None else np.mean([s["f1"][task.classes[i]] for i in score.classes])
                for s in scores]))
            for c in reported:
                for metric, key in (("se", "recall"), ("ppv", "precision")):
                    row[f"{side}_{metric}_{c}"] = float(np.mean([s[key][c] for s in scores]))
                row[f"{side}_f1_{c}"] = float(np.mean([s["f1"][c] for s in scores]))
        rows.append(row)
        tests.append(PairedTest({"model": model, "resampler": resampler}, ta.y_true,
                                [tb.predictions[i] for i in ids_b], [ta.predictions[i] for i in ids_a],
                                ta.records, task.n_classes, score.classes))
    if not rows:
        raise DataError(f"{base.path} and {other.path} share no (model, resampler) cell")
    verdicts = decide(tests, seed, n_boot)
    table = pd.DataFrame(rows).merge(verdicts[["model", "resampler", "difference", "ci_low", "ci_high", "p_value",
                                               "p_holm", "n_boot", "verdict"]], on=["model", "resampler"])
    s_published = [v for _, v in published_s_f1()] if task.name == "aami5" and "S" in reported else []
    return InputComparison(base, other, table, _markdown(base, other, table, reported, s_published, score.label))


def _markdown(base: GridStore, other: GridStore, table: pd.DataFrame, reported, s_published,
              score_label: str = "macro F1") -> str:
    from tabulate import tabulate

    from benchmark.literature import inter_patient_table

    a, b = _describe(base.manifest()), _describe(other.manifest())
    split = base.manifest().get("split", base.split)
    headers = ["model", "resampler", "input", *[f"{m} {c}" for c in reported for m in ("Se", "+P")], score_label,
               "training s"]
    body = []
    for r in table.to_dict("records"):
        for side, label in (("base", a), ("other", b)):
            body.append([r["model"] + (COLLAPSED if r[f"{side}_collapsed"] else ""), r["resampler"], label,
                         *[f"{r[f'{side}_{m}_{c}']:.3f}" for c in reported for m in ("se", "ppv")],
                         f"{r[f'{side}_macro_f1']:.3f}", f"{r[f'{side}_train_seconds']:,.0f}"])
    tests = [[r.model, r.resampler, f"{r.difference:+.4f}", f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]",
              f"{r.p_holm:.4f}", f"{r.n_boot:,}", r.verdict] for r in table.itertuples()]
    lines = [f"# `{other.name}` against `{base.name}` on the {split} split: {b} against {a}", "",
             f"Both grids: the same split, task, training budget and test part; only what a model sees of a beat "
             f"differs (`{base.name}`: {a}; `{other.name}`: {b}). Rebuild with `python run_benchmark.py compare "
             f"{base.name} {other.name} --split {split} --results-dir {base.path.parents[1].as_posix()}`. "
             f"{COLLAPSED.strip()}: a run that collapsed (`benchmark.metrics.collapse`).", "",
             "## Per-class sensitivity (Se) and positive predictivity (+P), mean over seeds", "",
             tabulate(body, headers=headers, tablefmt="github", disable_numparse=True), ""]
    if split == "inter":
        lines += ["Published on the same split (DS1 → DS2), in percent as published (`benchmark/literature.py`):", "",
                  inter_patient_table(), ""]
    lines += [f"## Does {b} change {score_label}? Paired bootstrap over test records, Holm-adjusted over the cells", "",
              f"Difference = {score_label} with {b} − with {a}; a verdict at α = {ALPHA} that no bootstrap draw changes "
                 "(`benchmark.metrics.comparisons.decide`).", "",
              tabulate(tests, headers=["model", "resampler", "difference", "95% interval", "p (Holm)", "resamples",
                                       "verdict"], tablefmt="github", disable_numparse=True), "",
              "## Reading", "", *_reading(table, a, b, reported, s_published, score_label), "",
              "## Provenance", "", *_provenance(base, table, "base"), *_provenance(other, table, "other"), ""]
    return "\n".join(lines)


def _provenance(store: GridStore, table: pd.DataFrame, side: str) -> list[str]:
    """Who trained a grid's compared runs: commits, machine, and their training time in all."""
    from benchmark.reporting.report import _machine

    commits = sorted({(store.metrics(r) or {}).get("provenance", {}).get("commit", "?")[:7]
                      for r in store.manifest().get("runs", [])})
    total = (table[f"{side}_train_seconds"] * table.seeds).sum()
    return [f"- `{store.name}`: trained at commit {', '.join(f'`{c}`' for c in commits)} on "
            f"{_machine(store.manifest())}; the compared runs' training took {total / 60:.1f} min in all "
            f"(`{store.path.as_posix()}`)"]


def _reading(table: pd.DataFrame, a: str, b: str, reported, s_published, score_label: str = "macro F1") -> list[str]:
    """One computed sentence per cell, and whether the S class reaches the literature's F1."""
    from benchmark.literature import s_f1_sentence

    out = []
    low = min(s_published) if s_published else None
    for r in table.to_dict("records"):
        said = {"gain": f"raises {score_label} by {r['difference']:+.3f} (significant)",
                "loss": f"lowers {score_label} by {r['difference']:+.3f} (significant)",
                "no evidence": f"changes {score_label} by {r['difference']:+.3f}, with no evidence of a difference",
                "undecided": f"changes {score_label} by {r['difference']:+.3f}; the test is undecided at its resample cap"}
        sentence = f"- **{r['model']}** ({r['resampler']}): {b} {said[r['verdict']]}"
        if "S" in reported:
            sentence += (f"; S Se {r['base_se_S']:.2f} → {r['other_se_S']:.2f}, S +P {r['base_ppv_S']:.2f} → "
                         f"{r['other_ppv_S']:.2f}, S F1 {r['base_f1_S']:.2f} → {r['other_f1_S']:.2f}")
            if low is not None:
                reached = r["other_f1_S"] >= low
                sentence += (f" — {'reaching' if reached else 'short of'} the lowest published S F1 ({low:.2f})")
        for side, label in (("base", a), ("other", b)):
            if r[f"{side}_collapsed"]:
                sentence += f"; with {label} it collapsed ({r[f'{side}_collapsed']})"
        out.append(sentence + ".")
    if low is not None:
        closed = [r.model for r in table.itertuples() if r.other_f1_S >= low]
        out += ["", f"Published: {s_f1_sentence()}. With {b}, "
                + (f"{', '.join(closed)} reach{'es' if len(closed) == 1 else ''} it; the others do not."
                   if closed else "no model reaches it: the gap stays open.")]
    return out


def write_comparison(base: GridStore, other: GridStore, out_dir) -> list:
    """COMPARISON-<base>-vs-<other>.md and .csv in ``out_dir`` (the split's folder)."""
    from pathlib import Path

    from benchmark.files import write_text

    result = compare_inputs(base, other)
    stem = Path(out_dir) / f"COMPARISON-{base.name}-vs-{other.name}"
    write_text(stem.with_suffix(".md"), result.markdown)
    write_text(stem.with_suffix(".csv"), result.table.to_csv(index=False, float_format="%.6f"))
    return [stem.with_suffix(".md"), stem.with_suffix(".csv")]
