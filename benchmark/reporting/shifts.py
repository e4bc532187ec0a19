"""Sections of REPORT.md built from the evaluations of saved models (``python run_benchmark.py evaluate``):
prior correction on the test part, the external svdb test, and nstdb's noise-stress curves.

Every test here is a paired bootstrap over records (patients), and seeds when there are several
(``benchmark.metrics.stats``), Holm-adjusted within its section; every sentence is computed.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.data.beats import CLASSES
from benchmark.metrics.comparisons import ALPHA, MARKS, N_BOOT, holm_verdicts
from benchmark.metrics.evaluator import confusion_matrix, per_class_f1, per_class_precision, per_class_recall
from benchmark.metrics.stats import paired_bootstrap
from benchmark.reporting.tables import FEW_TEST_BEATS as MIN_CLASS_BEATS  # fewer: left out of macro F1
from benchmark.reporting.tidy import LITERATURE_CLASSES
from benchmark.store import PRIOR_CORRECTED


def _cells(runs: pd.DataFrame, predictions: dict[str, np.ndarray]) -> dict[tuple[str, str], dict[int, np.ndarray]]:
    """{(model, resampler): {seed: predictions}} for the runs that have predictions."""
    cells: dict = {}
    for r in runs.itertuples():
        if r.run_id in predictions:
            cells.setdefault((r.model, r.resampler), {})[r.seed] = predictions[r.run_id]
    return cells


def _test(y, records, a: dict[int, np.ndarray], b: dict[int, np.ndarray], classes=None) -> dict | None:
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    return paired_bootstrap(y, [a[s] for s in seeds], [b[s] for s in seeds], n_boot=N_BOOT, groups=records,
                            classes=classes)


def _macro(y, pred, classes) -> float:
    return float(per_class_f1(confusion_matrix(y, pred))[list(classes)].mean())


def _tabulate(rows, headers) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _unit(records, seeds: int) -> str:
    return (f"paired bootstrap over the {len(set(records))} records, {N_BOOT:,} resamples"
            + (", and the seeds" if seeds > 1 else "; one seed, so training noise is untested"))


# ---------------------------------------------------------------------- prior correction

def prior_section(g, evaluation) -> list[str]:
    """Does resampling help beyond moving the decision threshold? Every re-weighted run's probabilities
    with the training prior divided out and the data's prior multiplied back in, against no resampling."""
    if evaluation is None:
        return []
    y, records, _, corrected = evaluation
    raw = _cells(g.runs, g.predictions)
    fixed = _cells(g.runs, corrected)
    rows, table = [], []
    for (model, resampler), preds in fixed.items():
        base = raw.get((model, "none"))
        if base is None:
            continue
        for label, cell in (("as trained", raw[(model, resampler)]), ("prior-corrected", preds)):
            result = _test(y, records, cell, base)
            if result:
                rows.append({"model": model, "resampler": resampler, "decision": label, **result})
    tests = holm_verdicts(rows)
    for (model, resampler), preds in fixed.items():
        if (model, "none") not in raw:
            continue
        f1 = lambda cell: np.mean([_macro(y, p, range(len(CLASSES))) for p in cell.values()])  # noqa: E731
        verdicts = {t.decision: f"{t.difference:+.3f} ({t.verdict})" for t in tests.itertuples()
                    if t.model == model and t.resampler == resampler}
        table.append([model, resampler, f"{f1(raw[(model, resampler)]):.3f}", f"{f1(preds):.3f}",
                      f"{f1(raw[(model, 'none')]):.3f}", verdicts.get("as trained", "—"),
                      verdicts.get("prior-corrected", "—")])
    if not table:
        return []
    seeds = max(len(c) for c in fixed.values())
    counts = {d: {v: int(((tests.decision == d) & (tests.verdict == v)).sum()) for v in ("gain", "loss")}
              for d in ("as trained", "prior-corrected")}
    n = len(table)
    reading = (f"As trained, {counts['as trained']['loss']} of {n} re-weighted cells are significantly worse than "
               f"no resampling and {counts['as trained']['gain']} better; with the prior corrected, "
               f"{counts['prior-corrected']['loss']} worse and {counts['prior-corrected']['gain']} better.")
    return [
        "## Prior correction: resampling or a moved threshold?", "",
        "A resampled (or class-weighted) training part teaches a model other class priors than the data's, which "
        "moves its decisions toward the minority classes whatever else it learns. Here every such run's test "
        "probabilities are divided by the prior it was trained under (the resampled part's class frequencies; "
        "uniform for class weighting) and multiplied by the original training part's (Saerens et al. 2002), "
        "from its saved model, without retraining. If a cell's loss against none disappears after the "
        "correction, the loss was the threshold, not what the model learned.", "",
        _tabulate(table, ["model", "resampler", "macro F1 as trained", "prior-corrected", "none",
                          "as trained − none", "prior-corrected − none"]), "",
        f"Differences in macro F1 with their verdict ({_unit(records, seeds)}; Holm over the "
        f"{len(tests)} tests of this table, α = {ALPHA}). {reading}", "",
    ]


# ---------------------------------------------------------------------- external test set

def kept_classes(y: np.ndarray) -> list[int]:
    """The literature's classes with enough beats in a test set to weigh in its macro F1."""
    counts = np.bincount(y, minlength=len(CLASSES))
    return [i for i, c in enumerate(CLASSES) if c in LITERATURE_CLASSES and counts[i] >= MIN_CLASS_BEATS]


def shifted_scores(g, evaluation) -> dict[tuple[str, str], float]:
    """{(model, resampler): macro F1 over :func:`kept_classes`, mean over seeds} on an evaluated test set."""
    if evaluation is None:
        return {}
    y, _, _, predictions = evaluation
    kept = kept_classes(y)
    return {cell: float(np.mean([_macro(y, p, kept) for p in preds.values()]))
            for cell, preds in _cells(g.runs, predictions).items()}


def external_section(g, name: str, evaluation, in_distribution: pd.DataFrame) -> list[str]:
    """Per-class Se and +P on an external database, macro F1 over the classes with enough beats, the
    record-level tests against none, and whether each model's best treatment is the same as on the test part."""
    if evaluation is None:
        return []
    y, records, _, predictions = evaluation
    counts = np.bincount(y, minlength=len(CLASSES))
    kept = kept_classes(y)
    dropped = [f"{CLASSES[i]} ({counts[i]} beats)" for i in range(len(CLASSES)) if i not in kept]
    cells = _cells(g.runs, predictions)
    rows, tests = [], []
    for (model, resampler), preds in cells.items():
        cms = [confusion_matrix(y, p) for p in preds.values()]
        se = np.mean([per_class_recall(cm) for cm in cms], axis=0)
        ppv = np.mean([per_class_precision(cm) for cm in cms], axis=0)
        f1 = float(np.mean([per_class_f1(cm)[kept].mean() for cm in cms]))
        rows.append({"model": model, "resampler": resampler, "f1": f1, "se": se, "ppv": ppv})
        base = cells.get((model, "none"))
        if resampler != "none" and base is not None:
            result = _test(y, records, preds, base, classes=kept)
            if result:
                tests.append({"model": model, "resampler": resampler, **result})
    verdicts = holm_verdicts(tests)
    marks = {(t.model, t.resampler): MARKS.get(t.verdict, "") for t in verdicts.itertuples()}
    shown = [i for i in range(len(CLASSES)) if CLASSES[i] in LITERATURE_CLASSES and counts[i] > 0]
    table = [[r["model"], r["resampler"], *[f"{r[m][i]:.3f}" for i in shown for m in ("se", "ppv")],
              f"{r['f1']:.3f}{marks.get((r['model'], r['resampler']), '')}"] for r in rows]
    headers = ["model", "resampler", *[f"{m} {CLASSES[i]}" for i in shown for m in ("Se", "+P")],
               f"macro F1 ({' '.join(CLASSES[i] for i in kept)})"]
    survival = []
    by_model: dict = {}
    for r in rows:
        by_model.setdefault(r["model"], []).append(r)
    for model, cells_of_model in by_model.items():
        here = max(cells_of_model, key=lambda r: r["f1"])["resampler"]
        there = in_distribution[in_distribution.model == model]
        if len(there):
            before = there.sort_values("macro_f1_mean", ascending=False).iloc[0].resampler
            same = "the same" if before == here else f"not the same (test part: {before})"
            survival.append(f"{model}: best on {name} {here}, {same}")
    seeds = max((len(c) for c in cells.values()), default=1)
    n_gain, n_loss = int((verdicts.get("verdict") == "gain").sum()), int((verdicts.get("verdict") == "loss").sum())
    return [
        f"## External test: {name}", "",
        f"Every saved model scored on {len(y):,} beats of {len(set(records))} {name} records (other patients, "
        "another recording setup), built by the same procedure, without retraining. Se = recall, +P = precision, "
        f"mean over seeds. Macro F1 over {', '.join(CLASSES[i] for i in kept)}: "
        + (f"{', '.join(dropped)} left out, too few beats to weigh like the others (fewer than {MIN_CLASS_BEATS}) "
           "or not in the literature's four classes." if dropped else "every class has enough beats."), "",
        _tabulate(table, headers), "",
        f"▲ / ▼: significantly better / worse than the same model without resampling on {name} "
        f"({_unit(records, seeds)}; Holm over {len(verdicts)} tests, α = {ALPHA}): {n_gain} better, {n_loss} worse.",
        "", "Does the ranking survive the shift? " + ("; ".join(survival) + "." if survival else "no cells."), "",
    ]


# ---------------------------------------------------------------------- noise stress

def noise_classes(y, samples) -> list[int]:
    """The literature's classes with at least MIN_CLASS_BEATS beats in nstdb's noisy segments (else any)."""
    from benchmark.data.external import in_noise

    counts = np.bincount(y[in_noise(samples)], minlength=len(CLASSES))
    return [i for i, c in enumerate(CLASSES) if c in LITERATURE_CLASSES and counts[i] >= MIN_CLASS_BEATS] \
        or [i for i, c in enumerate(CLASSES) if c in LITERATURE_CLASSES and counts[i] > 0]


def cell_noise_curves(g, evaluation) -> tuple[list[int], dict[tuple[str, str], dict]]:
    """(the classes scored, {(model, resampler): :func:`noise_curves`}) of an nstdb evaluation; no curves
    when nothing was scored."""
    y, records, samples, predictions = evaluation
    classes = noise_classes(y, samples)
    cells = _cells(g.runs, predictions) if classes else {}
    return classes, {cell: noise_curves(y, records, samples, preds, classes) for cell, preds in cells.items()}


def noisy_scores(g, evaluation) -> tuple[int | None, dict[tuple[str, str], float]]:
    """(lowest SNR, {(model, resampler): macro F1 on nstdb's noisy segments at that SNR}), for the overview."""
    curves = cell_noise_curves(g, evaluation)[1] if evaluation is not None else {}
    if not curves:
        return None, {}
    lowest = min(next(iter(curves.values()))["snr"])
    return lowest, {cell: c["snr"][lowest] for cell, c in curves.items()}


def noise_curves(y, records, samples, preds: dict[int, np.ndarray], classes) -> dict:
    """One cell's macro F1 (over ``classes``) and S / V sensitivity at each SNR on the noisy segments and on
    the clean segments (the same beats at every SNR), mean over seeds; and its robustness: the area under
    macro F1 over SNR, normalised by the clean score times the SNR range (1: no loss at any SNR)."""
    from benchmark.data.external import in_noise, snr_of

    snr = np.array([snr_of(r) for r in records])
    noisy = in_noise(samples)
    levels = sorted(set(snr.tolist()))
    out = {"snr": {}, "se_S": {}, "se_V": {}}
    per_seed = list(preds.values())
    for level in levels:
        m = noisy & (snr == level)
        cms = [confusion_matrix(y[m], p[m]) for p in per_seed]
        out["snr"][level] = float(np.mean([per_class_f1(cm)[list(classes)].mean() for cm in cms]))
        out["se_S"][level] = float(np.mean([per_class_recall(cm)[1] for cm in cms]))
        out["se_V"][level] = float(np.mean([per_class_recall(cm)[2] for cm in cms]))
    clean = ~noisy & (snr == levels[-1])
    cms = [confusion_matrix(y[clean], p[clean]) for p in per_seed]
    out["clean"] = float(np.mean([per_class_f1(cm)[list(classes)].mean() for cm in cms]))
    x, f = np.array(levels, float), np.array([out["snr"][s] for s in levels])
    area = float(np.sum(np.diff(x) * (f[1:] + f[:-1]) / 2))  # trapezoids between the SNR levels
    out["robustness"] = area / (out["clean"] * (x[-1] - x[0])) if out["clean"] > 0 and len(x) > 1 else float("nan")
    return out


def noise_section(g, evaluation, figure_path) -> tuple[list[str], list]:
    """nstdb's degradation curves per model × resampler and a robustness number per cell; the figure path
    is returned with the lines when drawn."""
    from benchmark.data.external import nstdb_records_seen
    from benchmark.reporting import figures

    if evaluation is None:
        figure_path.unlink(missing_ok=True)
        seen = nstdb_records_seen(g.manifest)
        if not seen:
            return [], []  # a fair grid not scored yet: nothing to say
        return ["## Noise stress: nstdb", "",
                f"Not scored: this grid's models trained on mitdb record(s) {', '.join(seen)}, the records nstdb adds "
                "its noise to, so a curve would score patients they have seen (`evaluate --on nstdb` refuses). "
                "A grid trained on DS2 (`--split inter_ds2`) never saw them and carries the curves.", ""], []
    classes, curves = cell_noise_curves(g, evaluation)
    if not curves:
        figure_path.unlink(missing_ok=True)
        return ["## Noise stress: nstdb", "", "No beat of nstdb's noisy segments was scored.", ""], []
    snrs = sorted(next(iter(curves.values()))["snr"])
    path = figures.noise_curves(curves, g.models, g.resamplers, snrs, figure_path)
    rows = [[m, r, f"{c['clean']:.3f}", *[f"{c['snr'][s]:.3f}" for s in reversed(snrs)],
             f"{c['se_S'][snrs[0]]:.2f} / {c['se_V'][snrs[0]]:.2f}", f"{c['robustness']:.2f}"]
            for (m, r), c in curves.items()]
    headers = ["model", "resampler", "clean", *[f"{s} dB" for s in reversed(snrs)], f"Se S / V at {snrs[0]} dB",
               "robustness"]
    survive = []
    for model in g.models:
        mine = {r: c for (m, r), c in curves.items() if m == model}
        if mine:
            clean_best = max(mine, key=lambda r: mine[r]["clean"])
            noisy_best = max(mine, key=lambda r: mine[r]["snr"][snrs[0]])
            survive.append(f"{model}: best clean {clean_best}, best at {snrs[0]} dB {noisy_best}")
    patients = sorted({str(r)[:3] for r in evaluation[1]})
    lines = [
        "## Noise stress: nstdb", "",
        f"Every saved model scored on nstdb: mitdb record{'s' if len(patients) > 1 else ''} {' and '.join(patients)} "
        "with electrode-motion noise "
        f"at {', '.join(f'{s}' for s in reversed(snrs))} dB in alternating 2-minute segments after 5 clean "
        "minutes, the same reference annotations at every SNR. This grid's models never saw those records "
        f"(`evaluate` refuses a grid whose did). Macro F1 over {', '.join(CLASSES[i] for i in classes)} "
        f"(classes with at least {MIN_CLASS_BEATS} beats in the noisy segments) on the noisy segments at each "
        "SNR, and on the clean segments; robustness: the area under that curve over SNR, divided by the clean "
        "score times the SNR range (1: nothing lost at any SNR). Mean over seeds.", "",
        f"![macro F1 over SNR]({path.relative_to(g.store.path).as_posix()})", "",
        _tabulate(rows, headers), "",
        f"With {len(patients)} patient{'s' if len(patients) > 1 else ''} no test over patients is possible: the "
        "curves describe these records. Does the ranking survive the noise? " + ("; ".join(survive) + "." if survive else ""), "",
    ]
    return lines, [path]
