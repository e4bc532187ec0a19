"""REPORT.md's sections on evaluations of saved models, in Markdown, from ``benchmark.reporting.shifts``:
prior correction on the test part, an external test set (svdb's section), and nstdb's noise curves.
The external ones are what the entries of ``benchmark.external`` name as their section."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.metrics.comparisons import ALPHA, MAX_BOOT, N_BOOT
from benchmark.reporting.analysis import COLLAPSED, collapse_mark, collapsed_cells
from benchmark.reporting.tables import count_word
from benchmark.reporting.shifts import MIN_CLASS_BEATS, cell_noise_curves, external_scores, prior_correction


def _tabulate(rows, headers) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _unit(records, seeds: int) -> str:
    return (f"paired bootstrap over the {len(set(records))} records, {N_BOOT:,} resamples (more, up to "
            f"{MAX_BOOT:,}, near α until no verdict depends on the draw)"
            + (", and the seeds" if seeds > 1 else "; one seed, so training noise is untested"))


def _collapsed_pairs(g) -> set:
    return set(collapsed_cells(g))


def _with_collapse(g, tests) -> np.ndarray:
    """Which tests (rows with model and resampler, against the same model without resampling) involve a
    collapsed run on either side."""
    pairs = _collapsed_pairs(g)
    return np.array([(t.model, t.resampler) in pairs or (t.model, "none") in pairs for t in tests.itertuples()],
                    dtype=bool)


def _fair_words(g, rows) -> str:
    left = {(r["model"], r["resampler"]) for r in rows} & _collapsed_pairs(g)
    bases = {r["model"] for r in rows if (r["model"], "none") in _collapsed_pairs(g)}
    if not left and not bases:
        return ""
    return (f" (cells with a collapsed run{COLLAPSED} on either side, a failed training rather than a treatment "
            "effect, left out of these counts)")


def prior_section(g, evaluation) -> list[str]:
    """Does resampling help beyond moving the decision threshold? Every re-weighted run's probabilities
    with the training prior divided out and the data's prior multiplied back in, against no resampling."""
    p = prior_correction(g, evaluation)
    if p is None:
        return []
    verdict = lambda r, d: (f"{r['verdicts'][d][0]:+.3f} ({r['verdicts'][d][1]})"  # noqa: E731
                            if d in r["verdicts"] else "—")
    table = [[r["model"], r["resampler"] + collapse_mark(g, r["model"], r["resampler"]), f"{r['as_trained']:.3f}",
              f"{r['corrected']:.3f}", f"{r['none']:.3f}" + collapse_mark(g, r["model"], "none"),
              verdict(r, "as trained"), verdict(r, "prior-corrected")] for r in p.rows]
    tests, failed = p.tests, _with_collapse(g, p.tests)
    fair = tests[~failed] if len(tests) else tests
    counts = {d: {v: int(((fair.decision == d) & (fair.verdict == v)).sum()) for v in ("gain", "loss")}
              for d in ("as trained", "prior-corrected")}
    pairs = _collapsed_pairs(g)
    n = sum(1 for r in p.rows if (r["model"], r["resampler"]) not in pairs and (r["model"], "none") not in pairs)
    reading = (f"As trained, {counts['as trained']['loss']} of {n} re-weighted cells{_fair_words(g, p.rows)} are "
               f"significantly worse than no resampling and {counts['as trained']['gain']} better; with the prior "
               f"corrected, {counts['prior-corrected']['loss']} worse and {counts['prior-corrected']['gain']} better.")
    return [
        "## Prior correction: resampling or a moved threshold?", "",
        "A resampled (or class-weighted) training part teaches a model other class priors than the data's, which "
        "moves its decisions toward the minority classes whatever else it learns. Here every such run's test "
        "probabilities are divided by the prior it was trained under (the resampled part's class frequencies; "
        "uniform for class weighting) and multiplied by the original training part's (Saerens et al. 2002), "
        "from its saved model, without retraining. If a cell's loss against none disappears after the "
        "correction, the loss was the threshold, not what the model learned.", "",
        _tabulate(table, ["model", "resampler", f"{g.score.label} as trained", "prior-corrected", "none",
                          "as trained − none", "prior-corrected − none"]), "",
        f"Differences in {g.score.label} with their verdict ({_unit(p.records, p.seeds)}; Holm within each column's "
        f"{int((tests.decision == 'as trained').sum()) if len(tests) else 0} tests, the same comparisons in both, α = {ALPHA}, so the two "
        f"columns compare like with like; the ▲/▼ of the {g.score.label} table are Holm-adjusted over another family, "
        f"with the best-model comparisons, and may differ from the first column). {reading}", "",
    ]


def external_section(g, name: str, evaluation) -> list[str]:
    """Per-class Se and +P on an external database, macro F1 over the classes with enough beats, the
    record-level tests against none, and whether each model's best treatment is the same as on the test part."""
    e = external_scores(g, evaluation)
    if e is None:
        return []
    classes = g.task.classes
    dropped = [f"{classes[i]} ({e.counts[i]} beats)" for i in range(len(classes)) if i not in e.kept]
    shown = [i for i in range(len(classes)) if classes[i] in g.task.reported and e.counts[i] > 0]
    table = [[r["model"], r["resampler"] + collapse_mark(g, r["model"], r["resampler"]),
              *[f"{r[m][i]:.3f}" for i in shown for m in ("se", "ppv")],
              f"{r['f1']:.3f}{r['mark']}"] for r in e.rows]
    headers = ["model", "resampler", *[f"{m} {classes[i]}" for i in shown for m in ("Se", "+P")],
               f"macro F1 ({' '.join(classes[i] for i in e.kept)})"]
    survival = [f"{model}: best on {name} {here}, " + ("the same" if before == here else
                                                         f"not the same (test part: {before})")
                for model, (here, before) in e.best.items()]
    verdicts = e.verdicts
    fair = verdicts[~_with_collapse(g, verdicts)] if len(verdicts) else verdicts
    n_gain, n_loss = int((fair.get("verdict") == "gain").sum()), int((fair.get("verdict") == "loss").sum())
    left_out = (f" ({len(verdicts) - len(fair)} comparison(s) with a collapsed run{COLLAPSED} left out of these "
                "counts: a failed training, not a treatment effect)" if len(fair) < len(verdicts) else "")
    return [
        f"## External test: {name}", "",
        f"Every saved model scored on {e.n_beats:,} beats of {e.n_records} {name} records (other patients, "
        "another recording setup), built by the same procedure, without retraining. Se = recall, +P = precision, "
        f"mean over seeds. Macro F1 over {', '.join(classes[i] for i in e.kept)}: "
        + (f"{', '.join(dropped)} left out, too few beats to weigh like the others (fewer than {MIN_CLASS_BEATS}) "
           f"or not in the literature's {count_word(len(g.task.reported))} classes." if dropped else "every class has enough beats."), "",
        _tabulate(table, headers), "",
        f"▲ / ▼: significantly better / worse than the same model without resampling on {name} "
        f"({_unit(e.records, e.seeds)}; Holm over {len(verdicts)} tests, α = {ALPHA}): {n_gain} better, {n_loss} worse"
        f"{left_out}.",
        "", "Does the ranking survive the shift? " + ("; ".join(survival) + "." if survival else "no cells."), "",
    ]


def noise_section(g, evaluation, figure_path: Path) -> tuple[list[str], list]:
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
    se = list(next(iter(curves.values()))["se"])
    rows = [[m, r + collapse_mark(g, m, r), f"{c['clean']:.3f}", *[f"{c['snr'][s]:.3f}" for s in reversed(snrs)],
             " / ".join(f"{c['se'][k][snrs[0]]:.2f}" for k in se), f"{c['robustness']:.2f}"]
            for (m, r), c in curves.items()]
    headers = ["model", "resampler", "clean", *[f"{s} dB" for s in reversed(snrs)],
               f"Se {' / '.join(se)} at {snrs[0]} dB", "robustness"]
    survive = []
    for model in g.models:
        mine = {r: c for (m, r), c in curves.items() if m == model}
        if mine:
            clean_best = max(mine, key=lambda r: mine[r]["clean"])
            noisy_best = max(mine, key=lambda r: mine[r]["snr"][snrs[0]])
            survive.append(f"{model}: best clean {clean_best}, best at {snrs[0]} dB {noisy_best}")
    patients = sorted({str(r)[:3] for r in evaluation[1]})
    names = g.task.classes
    lines = [
        "## Noise stress: nstdb", "",
        f"Every saved model scored on nstdb: mitdb record{'s' if len(patients) > 1 else ''} {' and '.join(patients)} "
        "with electrode-motion noise "
        f"at {', '.join(f'{s}' for s in reversed(snrs))} dB in alternating 2-minute segments after 5 clean "
        "minutes, the same reference annotations at every SNR. This grid's models never saw those records "
        f"(`evaluate` refuses a grid whose did). Macro F1 over {', '.join(names[i] for i in classes)} "
        f"(classes with at least {MIN_CLASS_BEATS} beats in the noisy segments) on the noisy segments at each "
        "SNR, and on the clean segments; robustness: the area under that curve over SNR, divided by the clean "
        "score times the SNR range (1: nothing lost at any SNR). Mean over seeds.", "",
        f"![macro F1 over SNR]({path.relative_to(g.store.path).as_posix()})", "",
        _tabulate(rows, headers), "",
        f"With {len(patients)} patient{'s' if len(patients) > 1 else ''} no test over patients is possible: the "
        "curves describe these records. Does the ranking survive the noise? " + ("; ".join(survive) + "." if survive else ""), "",
    ]
    return lines, [path]
