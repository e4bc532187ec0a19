"""The files of a report: runs.csv, summary.csv, summary.md, significance.csv and REPORT.md (with its
figures) for one grid, and the overview ``README.md`` of a results folder.

Reads only the run store, so it can be rebuilt at any time without training
(``python run_benchmark.py report``); the same saved runs always give byte-identical files.
"""
from __future__ import annotations

from pathlib import Path

from benchmark.data.splits import SPLITS
from benchmark.external import external_sets, list_external
from benchmark.files import write_text
from benchmark.reporting.analysis import FEW_TEST_BEATS, read_grid
from benchmark.reporting.critical_difference import critical_difference_sections
from benchmark.reporting.narrative import write_full_report
from benchmark.reporting.tables import finished_seeds, summary_markdown
from benchmark.reporting.tidy import reported_macro
from benchmark.reporting.reproductions import REPRODUCTIONS_CSV, reproductions
from benchmark.store import GridStore, RunStore
from benchmark.reporting.provenance_section import write_report_text


def write_report(store: GridStore, figures: bool = True) -> list[Path]:
    """Write the tables (and REPORT.md with figures) of one grid; returns the files written."""
    g = read_grid(store, external=tuple(list_external()))
    paths = [store.file("runs.csv"), store.file("summary.csv"), store.file("summary.md")]
    write_text(paths[0], g.runs.to_csv(index=False, float_format="%.6f"))
    write_text(paths[1], g.summary.to_csv(index=False, float_format="%.6f"))
    write_report_text(paths[2], summary_markdown(g))
    if g.comparisons is not None:
        paths.append(store.file("significance.csv"))
        write_text(paths[-1], g.comparisons.to_csv(index=False, float_format="%.6f"))
    if figures and len(g.runs):
        paths += write_full_report(g)
    return paths


def _machine(manifest: dict) -> str:
    prov = manifest.get("provenance", {})
    m, gpu = prov.get("machine"), prov.get("device", {}).get("gpu")
    if not m:
        return "an unrecorded machine"
    return (f"{gpu} ({prov.get('keras_backend', '?')} backend), host {m['cpu']}, {m['cores']} cores" if gpu
            else f"{m['cpu']}, {m['cores']} cores (CPU only)")


def _done_words(g) -> str:
    """How much of a grid has finished: its seeds and runs, and "a partial grid" while cells are missing."""
    seeds = list(g.manifest["seeds"])
    cells = len(g.manifest.get("runs", [])) or len(g.runs)
    if len(g.runs) >= cells:
        return f"seeds {', '.join(map(str, seeds))}, {len(g.runs)} runs"
    done = finished_seeds(g)
    return (f"a partial grid: {len(g.runs)} of its {cells} runs finished, of seed(s) "
            f"{', '.join(map(str, done)) or 'none'} of {', '.join(map(str, seeds))}")


def _shared_label(g) -> str:
    """The score an inter − intra column compares: macro F1 over the task's reported classes (aami5: N, S,
    V, F), scored alike on both splits."""
    reported = g.task.reported
    return f"macro F1 ({' '.join(reported)})" if reported_macro(g.task) else "macro F1"


def write_overview(results: RunStore) -> Path | None:
    """``<results>/README.md``: macro F1 of every cell in every grid, and for a grid run on both the intra
    and the inter split, the change from one to the other."""
    from tabulate import tabulate

    order = {split: i for i, split in enumerate(SPLITS)}
    stores = sorted(results.grids(), key=lambda s: (order.get(s.split, len(order)), s.split, s.name))
    grids = {f"{s.split}/{s.name}": read_grid(s, compare=False, external=tuple(list_external())) for s in stores}
    if not grids:
        return None
    cells: dict[tuple[str, str], dict[str, float]] = {}
    shared: dict[tuple[str, str], dict[str, float]] = {}  # the score both splits share, for inter − intra
    for name, g in grids.items():
        common = reported_macro(g.task) or "macro_f1"  # aami5: macro F1 over N, S, V, F
        for _, c in g.summary.iterrows():
            cells.setdefault((c.model, c.resampler), {})[name] = c.score_mean
            shared.setdefault((c.model, c.resampler), {})[name] = c[f"{common}_mean"]
    external, noted = {}, []  # column name -> its cells' scores, for grids scored on an external test set
    for name, g in grids.items():
        for entry in external_sets():
            label, scores = entry.overview(g, g.evaluations.get(entry.name))
            if scores:
                external[f"{name} {label}"] = scores
                noted += [entry] if entry not in noted else []
                for cell, value in scores.items():
                    cells.setdefault(cell, {})[f"{name} {label}"] = value
    names = [*grids, *external]
    both = [n.split("/", 1)[1] for n in names if n.startswith("intra/") and f"inter/{n.split('/', 1)[1]}" in grids]
    headers = ["model", "resampler", *[f"{n} {grids[n].score.label if n in grids else 'macro F1'}" for n in names],
               *[f"inter − intra ({b}, {_shared_label(grids[f'inter/{b}'])})" for b in both]]
    rows = []
    for (model, resampler), v in cells.items():
        row = [model, resampler, *[f"{v[n]:.3f}" if n in v else "—" for n in names]]
        for b in both:
            intra, inter, w = f"intra/{b}", f"inter/{b}", shared.get((model, resampler), {})
            row.append(f"{w[inter] - w[intra]:+.3f}" if intra in w and inter in w else "—")
        rows.append(row)
    lines = ["# Results", "",
             "Test score of every model × resampler in each grid (mean over seeds): macro F1, over N, S, V and F "
             "on an inter-patient split (the form its literature reports; its test part holds 7 Q beats)"
             + "".join(f"; {entry.overview_note}" for entry in sorted(noted, key=external_sets().index))
             + ". Each grid's `REPORT.md` has the per-class recall, significance tests, figures and provenance.", "",
             *[f"- [`{n}`]({n}/REPORT.md): grid `{g.manifest['grid']}`, {g.manifest['train']['steps']:,} steps a run"
               f"{', on a subset' if g.manifest.get('data', {}).get('subset') else ''}, {_done_words(g)}, trained at commit "
               f"`{g.manifest.get('provenance', {}).get('commit', '?')}` on {_machine(g.manifest)}"
               for n, g in grids.items()], "",
             tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]
    for b in both:
        tests = {s: grids[f"{s}/{b}"].manifest.get("class_counts", {}).get("test", {}) for s in ("intra", "inter")}
        classes = {s: grids[f"{s}/{b}"].task.classes for s in tests}
        mix = {s: {k: test[k] for k in classes[s] if k in test} for s, test in tests.items()}
        words = "; ".join(f"{s}: " + ", ".join(f"{k} {n:,}" for k, n in m.items()) for s, m in mix.items() if m)
        scored = {k: n for k, n in mix["inter"].items() if k in grids[f"inter/{b}"].task.reported}
        fewest = min(scored, key=scored.get) if scored else None
        fewest = fewest if fewest and mix["inter"][fewest] < FEW_TEST_BEATS else None  # 5,453 abnormal beats are not few
        lines += [f"`inter − intra ({b})`: the change from testing on unseen beats of seen patients to testing on "
                  "unseen patients, but not only that: the two test parts also differ in their class mix"
                  + (f" ({words})" if words else "") + f", and {_shared_label(grids[f'inter/{b}'])} weighs every class "
                  "it averages over equally, so a class "
                  "with few test beats" + (f" ({fewest} on the inter split: {mix['inter'][fewest]})" if fewest else "")
                  + " moves it by itself. The two splits may also come from different commits or machines "
                  "(TensorFlow's CPU results differ slightly between CPU models); see each report.", ""]
    survival = []
    for name in names:
        best = {}  # model -> (its tied best resamplers, their score)
        for (model, resampler), v in cells.items():
            if name not in v:
                continue
            held = best.get(model, ([], -1.0))
            if v[name] > held[1]:
                best[model] = ([resampler], v[name])
            elif v[name] == held[1]:
                held[0].append(resampler)  # a tie is a tie, not won by order
        survival.append(f"{name}: " + (", ".join(f"{m} {' = '.join(r)}" for m, (r, _) in best.items())
                                       or "no finished run"))
    if len(names) > 1:
        lines += ["Highest score of each model, column by column (descriptive point estimates, no "
                  "test; does the ranking survive each shift? each report's record-level tests decide): "
                  + "; ".join(survival) + ".", ""]
    lines += critical_difference_sections(grids, results.overview_figure)
    reproduced = reproductions(list(grids.values()))
    if reproduced is not None:
        lines += reproduced.markdown
        reproduced.table.to_csv(results.root / REPRODUCTIONS_CSV, index=False, float_format="%.6f")
    path = results.overview_path()
    write_text(path, "\n".join(lines))
    return path
