"""TRANSFER.md in a grid's folder: for every target its saved models were carried to, the split and its
fractions, per source cell a table of strategy × fraction scores, the learning curves (a figure under the grid's
``figures/``), the paired tests of fine-tuned against from scratch, a reading computed from those numbers, and
the provenance. Also ``runs.csv`` in each target's folder: every cell's scores. Reads only the store.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tabulate import tabulate

from benchmark.files import write_text
from benchmark.reporting.provenance_section import write_report_text
from benchmark.metrics.comparisons import ALPHA, MAX_BOOT
from benchmark.provenance import git_commit
from benchmark.reporting.analysis import FEW_TEST_BEATS
from benchmark.store import TRANSFER_REPORT, GridStore
from benchmark.transfer.analysis import NO_TREATMENT, TransferResults, read_transfer, summary
from benchmark.transfer.config import STRATEGIES, STRATEGY_WORDS

BINARY_METRICS = {"sensitivity": "sensitivity (abnormal recall)", "specificity": "specificity (normal recall)",
                  "auroc": "AUROC"}
PART_WORDS = {"fine_tune": "fine-tuning", "validation": "validation", "test": "test"}


def write_transfer_report(grid: GridStore, figures: bool = True) -> list[Path]:
    """TRANSFER.md (with its figures) of every target of ``grid``, and each target's runs.csv; the files written."""
    targets = grid.transfers()
    if not targets:
        return []
    results = [read_transfer(t) for t in targets]
    paths, lines = [], [f"# Transfer: the saved models of `{grid.split}/{grid.name}` on other databases' patients", "",
                        *_introduction(), ""]
    for r in results:
        figure = grid.file(f"figures/transfer_{r.store.target}.png")
        drawn = figures and len(r.rows) and _draw(r, figure)
        lines += target_section(r, f"figures/{figure.name}" if drawn else None)
        paths += [figure] if drawn else []
        path = r.store.file("runs.csv")
        write_text(path, r.rows.to_csv(index=False, float_format="%.6f"))
        paths.append(path)
    lines += provenance_section(grid, results)
    write_report_text(grid.file(TRANSFER_REPORT), "\n".join(lines))  # unchanged but for its stamp: left as it is
    return [grid.file(TRANSFER_REPORT), *paths]


def _introduction() -> list[str]:
    return ["What a model trained on MIT-BIH brings to another database's patients, against training on them alone. "
            "Each saved run of the grid (a source cell: model × treatment) is compared four ways on the target: "
            f"**{STRATEGY_WORDS['zero_shot']}** (the saved model as it is), **{STRATEGY_WORDS['fine_tune']}** (every "
            "weight from the saved model, trained further at a smaller learning rate), "
            f"**{STRATEGY_WORDS['frozen']}** (the saved model's layers fixed, a new classifier head trained) and "
            f"**{STRATEGY_WORDS['scratch']}** (a fresh build of the same model, the same budget), at growing shares of "
            "the target's fine-tuning records (a learning curve; the shares are nested), with the target's fine-tuning "
            "part as it is or treated as the source run's training part was. Every trained run stops early on the "
            "target's validation records, and the target's test records are scored once, at the end."]


def _percent(fraction: float) -> str:
    return f"{100 * fraction:g}%"


def _treatment(treatment: str) -> str:
    """A target treatment in words ("-": none applies, as for zero-shot, which trains on nothing)."""
    return "—" if treatment == NO_TREATMENT else "as it is" if treatment == "none" else f"treated: {treatment}"


def _scored_words(r: TransferResults) -> str:
    counts = np.bincount(r.y, minlength=r.task.n_classes)
    names = ", ".join(r.task.classes[i] for i in r.kept)
    left = [f"{r.task.classes[i]} has {counts[i]:,}" for i in range(r.task.n_classes) if i not in r.kept]
    if not left:
        return f"macro F1 over every class ({names})"
    return (f"macro F1 over {names}, the classes with at least {FEW_TEST_BEATS} test beats ({'; '.join(left)}: "
            f"too few to weigh in; the all-class macro F1 is the second table)")


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def target_section(r: TransferResults, figure: str | None) -> list[str]:
    m = r.manifest
    one, many = ("record", "records") if m["unit"] == "record" else ("beat", "beats")
    parts = {k: m["parts"][k] for k in PART_WORDS}
    lines = [f"## {m['folder']}: {m['description']}", "",
             f"Target: {m['source']}. Split (seed {m['split']['split_seed']}, shares "
             + " / ".join(f"{s:g}" for s in m["split"]["parts"]) + ") into "
             + ", ".join(f"a {PART_WORDS[k]} part of {_count(p['units'], one, many)} "
                         f"({_count(p['beats'], 'beat', 'beats')})" for k, p in parts.items())
             + (", stratified by which classes each record holds; a record is a patient, and no record is on two "
                "sides." if m["unit"] == "record" else ", stratified by class."), ""]
    if m["unit"] != "record":
        lines += ["**Split by beat**: this target has no records (patients), so beats of one patient may fall on "
                  "several sides, and its tests resample beats, which claims more certainty than patients would "
                  "support.", ""]
    classes = r.task.classes
    table = [[PART_WORDS[k], f"{p['units']:,}", f"{p['beats']:,}", *[f"{p['class_counts'][c]:,}" for c in classes]]
             for k, p in parts.items()]
    table[1:1] = [[f"  {_percent(f['fraction'])} of fine-tuning", f"{f['units']:,}", f"{f['beats']:,}",
                   *[f"{f['class_counts'][c]:,}" for c in classes]]
                  for f in sorted(m["fractions"].values(), key=lambda f: f["fraction"])]
    lines += [tabulate(table, headers=["part", many, "beats", *classes], tablefmt="github",
                       disable_numparse=True), "",
              *_budget_lines(m), "", f"Scores: {_scored_words(r)}; a model's class probabilities summed into the "
              f"target's classes where its task groups them otherwise. † marks a collapsed run (one class for "
              "every test beat, or a validation score never above predicting the commonest class).", ""]
    if not len(r.rows):
        return lines + ["No finished transfer runs yet.", ""]
    if figure:
        lines += [f"![learning curves]({figure})", ""]
    for model, resampler in r.cells:
        lines += cell_section(r, model, resampler)
    lines += test_section(r) + ["### Reading", "", *reading(r), ""] + _left_out(r)
    return lines


def _budget_lines(m: dict) -> list[str]:
    out = []
    for strategy, b in m.get("budget", {}).items():
        rate = (f"a triangular lr from {b['lr_min']:g} to {b['lr_max']:g}" if b.get("lr_schedule") == "triangular"
                else f"Adam lr {b['learning_rate']:g}")
        out.append(f"{STRATEGY_WORDS[strategy]} {b['steps']:,} steps of batch {b['batch_size']}, {rate}")
    if not out:
        return []
    b = next(iter(m["budget"].values()))
    return [f"Budget of every trained run: {'; '.join(out)}; validation macro F1 every {b['eval_every']} steps, early "
            f"stop after {b['patience']} checks without gain, the best validation weights kept and tested."]


def _pivot(r: TransferResults, model: str, resampler: str, metric: str) -> list[str]:
    """Strategy (and target treatment) × fraction of one source cell; zero-shot in its own column."""
    s = summary(r, metric)
    s = s[(s.model == model) & (s.resampler == resampler)]
    rows = r.rows[(r.rows.model == model) & (r.rows.resampler == resampler)]
    collapsed = {(x.strategy, x.treatment, -1.0 if np.isnan(x.fraction) else x.fraction)
                 for x in rows[rows.collapsed != ""].itertuples()}

    def value(strategy, treatment, fraction, score):
        if score is None or np.isnan(score):
            return "—"
        return f"{score:.3f}" + (" †" if (strategy, treatment, fraction) in collapsed else "")

    body = []
    for strategy in STRATEGIES:
        arms = s[s.strategy == strategy]
        for treatment in dict.fromkeys(arms.treatment):
            arm = arms[arms.treatment == treatment]
            if strategy == "zero_shot":
                row = [value(strategy, treatment, -1.0, arm[metric].iloc[0])] + ["" for _ in r.fractions]
            else:
                at = dict(zip(arm.fraction, arm[metric]))
                row = [""] + [value(strategy, treatment, f, at[f]) if f in at else "" for f in r.fractions]
            body.append([STRATEGY_WORDS[strategy], _treatment(treatment), *row])
    headers = ["strategy", "target part", "no target data", *[_percent(f) for f in r.fractions]]
    return [tabulate(body, headers=headers, tablefmt="github", disable_numparse=True), ""]


def cell_section(r: TransferResults, model: str, resampler: str) -> list[str]:
    rows = r.rows[(r.rows.model == model) & (r.rows.resampler == resampler)]
    sources = sorted(set(rows.source_run))
    lines = [f"### {model} × {resampler}", "",
             f"Source run{'s' if len(sources) > 1 else ''}: {', '.join(f'`{s}`' for s in sources)} "
             f"({len(set(rows.seed))} seed{'s' if len(set(rows.seed)) > 1 else ''}; mean over seeds).", "",
             f"Macro F1 ({', '.join(r.task.classes[i] for i in r.kept)}):", "",
             *_pivot(r, model, resampler, "macro_f1")]
    if len(r.kept) < r.task.n_classes:
        lines += [f"Macro F1 over all {r.task.n_classes} classes:", "", *_pivot(r, model, resampler, "macro_f1_all")]
    if r.task.n_classes == 2:
        for metric, words in BINARY_METRICS.items():
            if metric in r.rows:
                lines += [f"{words[0].upper()}{words[1:]}:", "", *_pivot(r, model, resampler, metric)]
    return lines


def test_section(r: TransferResults) -> list[str]:
    t = r.tests
    title = ["### Fine-tuned against from scratch", ""]
    if not len(t):
        return title + ["No fraction has both a fine-tuned and a from-scratch run yet.", ""]
    first = t.iloc[0]
    unit = (f"the {int(first.n_units)} test records (patients)" if first.unit == "record"
            else f"the {int(first.n_units):,} test beats (no records: beats of one patient are not independent, so "
                 "this overstates certainty)")
    seeds = "and the seeds" if t.seeds.max() > 1 else "one seed: training noise is untested"
    body = [[x.model, x.resampler, _treatment(x.treatment), _percent(x.fraction), f"{x.fine_tune:.3f}",
             f"{x.scratch:.3f}", f"{x.difference:+.4f}", f"[{x.ci_low:+.4f}, {x.ci_high:+.4f}]", f"{x.p_holm:.4f}",
             f"{int(x.n_boot):,}", x.verdict] for x in t.itertuples()]
    kept = ", ".join(r.task.classes[i] for i in r.kept)
    return title + [f"Difference = fine-tuned − from scratch in macro F1 ({kept}); "
                    f"a paired bootstrap over {unit}, {seeds}; p Holm-adjusted within each source cell (its fractions "
                    f"and target treatments), verdict at α = {ALPHA} that no bootstrap draw changes (more resamples "
                    f"near α, up to {MAX_BOOT:,}; else undecided).", "",
                    tabulate(body, headers=["model", "resampler", "target part", "fraction", "fine-tuned",
                                            "from scratch", "difference", "95% interval", "p (Holm)", "resamples",
                                            "verdict"], tablefmt="github", disable_numparse=True), ""]


def _join(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def reading(r: TransferResults) -> list[str]:
    """Sentences computed from the tables above, one group per source cell."""
    out = []
    t = r.tests
    if len(t):
        counts = t.verdict.value_counts()
        said = {"gain": "significantly better", "loss": "significantly worse", "no evidence": "with no evidence of a "
                "difference", "undecided": "undecided"}
        out.append(f"- Over {len(t)} comparisons, fine-tuned against from scratch: "
                   + "; ".join(f"{said[v]} in {counts[v]}" for v in said if v in counts) + ".")
    s = summary(r)
    for model, resampler in r.cells:
        cell = s[(s.model == model) & (s.resampler == resampler)]
        words = [f"**{model} × {resampler}**:"]
        zero = cell[cell.strategy == "zero_shot"].macro_f1
        if len(zero):
            words.append(f"zero-shot {zero.iloc[0]:.3f}.")
        for treatment in dict.fromkeys(cell[cell.strategy != "zero_shot"].treatment):
            words += _arm_sentences(r, cell, model, resampler, treatment, zero.iloc[0] if len(zero) else None)
        if len(set(cell[cell.strategy == "fine_tune"].treatment)) == 2:
            words.append(_treatment_sentence(cell, resampler))
        out.append("- " + " ".join(words))
    collapsed = r.rows[r.rows.collapsed != ""].drop_duplicates("run_id")
    if len(collapsed):
        one = collapsed.collapsed.str.contains("for every test beat").sum()
        flat = collapsed.collapsed.str.contains("validation macro F1 never rose").sum()
        out.append(f"- {len(collapsed)} of {r.rows.run_id.nunique()} runs collapsed (†; each one's reason is in "
                   f"runs.csv): {one} predict one class for every test beat, {flat} never scored above predicting "
                   "the commonest class on validation.")
    return out


def _arm_sentences(r: TransferResults, cell: pd.DataFrame, model, resampler, treatment, zero) -> list[str]:
    arm = cell[cell.treatment == treatment]
    curve = {s: dict(zip(arm[arm.strategy == s].fraction, arm[arm.strategy == s].macro_f1)) for s in STRATEGIES[1:]}
    words = [f"With the target part {_treatment(treatment)}:"]
    ranges = [f"{STRATEGY_WORDS[s]} {min(c.values()):.3f}–{max(c.values()):.3f}" for s, c in curve.items() if c]
    if ranges:
        words.append("over the fractions " + ", ".join(ranges) + ".")
    tests = r.tests[(r.tests.model == model) & (r.tests.resampler == resampler) & (r.tests.treatment == treatment)] \
        if len(r.tests) else pd.DataFrame()
    if len(tests):
        by = {v: [_percent(x) for x in tests[tests.verdict == v].fraction] for v in ("gain", "loss", "no evidence",
                                                                                      "undecided")}
        said = [f"is significantly better at {_join(by['gain'])}" if by["gain"] else "",
                f"is significantly worse at {_join(by['loss'])}" if by["loss"] else "",
                f"shows no evidence of a difference at {_join(by['no evidence'])}" if by["no evidence"] else "",
                f"is undecided at {_join(by['undecided'])}" if by["undecided"] else ""]
        words.append("Against from scratch, fine-tuned " + "; ".join(w for w in said if w) + ".")
    tuned, scratch = curve["fine_tune"], curve["scratch"]
    if tuned and scratch:
        largest = max(scratch)
        reached = [f for f in sorted(tuned) if tuned[f] >= scratch[largest]]
        words.append(f"Fine-tuned on {_percent(reached[0])} of the fine-tuning records reaches what from scratch "
                     f"reaches on {_percent(largest)} ({scratch[largest]:.3f}; point estimates)." if reached else
                     f"At no fraction does fine-tuned reach from scratch on {_percent(largest)} "
                     f"({scratch[largest]:.3f}).")
    if tuned and curve["frozen"]:
        shared = sorted(set(tuned) & set(curve["frozen"]))
        higher = [f for f in shared if curve["frozen"][f] > tuned[f]]
        words.append(f"Frozen features score above fine-tuned at {len(higher)} of {len(shared)} fractions"
                     + (f" ({_join([_percent(f) for f in higher])})." if higher else "."))
    if tuned and zero is not None:
        smallest = min(tuned)
        words.append(f"At {_percent(smallest)}, fine-tuned is {tuned[smallest] - zero:+.3f} from zero-shot.")
    return words


def _treatment_sentence(cell: pd.DataFrame, resampler: str) -> str:
    tuned = cell[cell.strategy == "fine_tune"]
    treated = dict(zip(tuned[tuned.treatment == resampler].fraction, tuned[tuned.treatment == resampler].macro_f1))
    plain = dict(zip(tuned[tuned.treatment == "none"].fraction, tuned[tuned.treatment == "none"].macro_f1))
    gaps = [treated[f] - plain[f] for f in sorted(set(treated) & set(plain))]
    if not gaps:
        return ""
    return (f"Treating the target part with {resampler}, as the source was, changes fine-tuned macro F1 by "
            f"{np.mean(gaps):+.3f} on average over {len(gaps)} fractions ({min(gaps):+.3f} to {max(gaps):+.3f}).")


def _left_out(r: TransferResults) -> list[str]:
    m = r.manifest
    lines = [f"- `{run}`: {why}" for run, why in {**m.get("notes", {}), **m.get("skipped_sources", {})}.items()]
    lines += [f"- `{run}` failed: {why}" for run, why in sorted(r.failed.items())]
    if r.missing and len(r.missing) > len(r.failed):
        lines.append(f"- {len(r.missing) - len(r.failed)} cell(s) not run yet")
    return (["### Left out", "", *lines, ""]) if lines else []


def _draw(r: TransferResults, path: Path) -> bool:
    from benchmark.reporting.figures import learning_curves

    s = summary(r)
    panels = {}
    for model, resampler in r.cells:
        cell = s[(s.model == model) & (s.resampler == resampler)]
        lines = []
        for strategy in STRATEGIES[1:]:
            for treatment in dict.fromkeys(cell[cell.strategy == strategy].treatment):
                arm = cell[(cell.strategy == strategy) & (cell.treatment == treatment)].sort_values("fraction")
                lines.append((f"{STRATEGY_WORDS[strategy]}, {_treatment(treatment)}", arm.fraction.tolist(),
                              arm.macro_f1.tolist(), STRATEGIES.index(strategy), treatment != "none"))
        zero = cell[cell.strategy == "zero_shot"].macro_f1
        panels[f"{model} × {resampler}"] = {"lines": lines,
                                            "level": ("zero-shot", float(zero.iloc[0])) if len(zero) else None}
    if not any(p["lines"] for p in panels.values()):
        return False
    learning_curves(panels, path, f"test macro F1 ({', '.join(r.task.classes[i] for i in r.kept)})")
    return True


def _distinct(values) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _machine(p: dict) -> str:
    m, device = p.get("machine", {}), p.get("device", {})
    gpu = f"{device['gpu']}; " if device.get("gpu") else ""
    return (f"{gpu}{m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('memory_gib', '?')} GiB; "
            f"{m.get('platform', '?')}; Keras backend {p.get('keras_backend', '?')}")


def provenance_section(grid: GridStore, results: list[TransferResults]) -> list[str]:
    runs = [m.get("provenance", {}) for r in results for m in r.metrics.values()]
    commands = _distinct(f"`{p.get('command', 'unknown')}`" for p in runs)
    commits = _distinct(f"`{p.get('commit', 'unknown')}`" for p in runs)
    source = grid.manifest().get("provenance", {})
    lines = ["## Provenance", "",
             f"- Source grid `{grid.split}/{grid.name}`: trained by `{source.get('command', 'unknown')}` at "
             f"`{source.get('commit', 'unknown')}` (see its REPORT.md)",
             f"- {'Command' if len(commands) == 1 else 'Commands'} of the transfer runs: "
             f"{'; '.join(commands) or 'none'}",
             f"- {'Commit' if len(commits) == 1 else 'Commits'} that made them: {', '.join(commits) or 'none'}; "
             f"this file written by the report code at `{git_commit()}`",
             *[f"- Machine: {m}" for m in _distinct(_machine(p) for p in runs)],
             *[f"- Libraries: {v}" for v in _distinct(", ".join(f"{k} {v}" for k, v in p.get("versions", {}).items())
                                                       for p in runs)],
             *[f"- Target `{r.store.target}` settings of the last invocation: " + ", ".join(
                 f"{k} {'the grid' + chr(39) + 's' if v is None else v}" for k, v in r.manifest["config"].items())
               for r in results],
             "", "Rerunning the transfer command skips every finished run and writes this file again from the store.",
             ""]
    return lines
