"""The report from a run store written by hand (no training): failed against missing cells, a binary
task's classes and metrics, and every registered external test set's section."""
import numpy as np
import pandas as pd
import pytest

from benchmark.external import get_external, list_external
from benchmark.reporting import figures
from benchmark.reporting.report import write_report
from benchmark.reporting.analysis import read_grid
from benchmark.reporting.tables import macro_table
from tests.synthetic_store import write_synthetic_grid


def test_heatmap_tells_a_failed_cell_from_one_never_run(tmp_path):
    store = write_synthetic_grid(tmp_path, models=("mlp", "cnn"), resamplers=("none", "smote"),
                                 failed=[("mlp", "smote")], not_run=[("cnn", "smote")])
    g = read_grid(store, compare=False)
    grid, status = figures.heatmap_cells(g.summary, g.failed, g.models, g.resamplers)
    assert status == [["", figures.FAILED], ["", figures.NOT_RUN]]
    assert np.isfinite(grid[:, 0]).all() and np.isnan(grid[:, 1]).all()
    assert list(g.failed) == ["mlp__smote__seed0__0123456789"]
    rows = macro_table(g).splitlines()
    assert rows[2].split("|")[3].strip() == "failed" and rows[3].split("|")[3].strip() == "—"
    path = figures.heatmap(g.summary, g.failed, g.models, g.resamplers, tmp_path / "h.png", "title")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    paths = write_report(store)
    assert any(p.name == "macro_f1_heatmap.png" for p in paths)


def test_a_treatments_parameters_go_one_per_line_so_its_figures_keep_their_axes(tmp_path):
    import warnings

    name = "under_over[majority_fraction=0.662,minority_fraction=0.5,noise_scale=0.02]"
    assert figures.resampler_label(name) == "under_over\nmajority_fraction=0.662\nminority_fraction=0.5\nnoise_scale=0.02"
    assert figures.resampler_label("smote_enn") == "smote_enn"
    store = write_synthetic_grid(tmp_path, task="binary", models=("mlp_128_64_16", "random_forest"),
                                 resamplers=(name,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # on one line the name collapsed the heatmap's axes (matplotlib warned)
        assert any(p.name == "recall_by_resampler.png" for p in write_report(store))


def test_a_binary_grid_reports_two_classes_and_its_metrics_from_the_stored_probabilities(tmp_path):
    from benchmark.metrics.evaluator import binary_metrics

    store = write_synthetic_grid(tmp_path, task="binary", seeds=(0, 1))
    g = read_grid(store, n_boot=50)
    assert g.task.name == "binary" and g.comparisons is not None
    assert {"recall_normal", "recall_abnormal", "sensitivity", "specificity", "auroc"} <= set(g.runs.columns)
    assert not any(c.endswith(("_N", "_S", "_Q")) for c in g.runs.columns)
    run_id = g.runs.run_id.iloc[0]
    expected = binary_metrics(store.test_labels(), store.probabilities(run_id), store.predictions(run_id))
    assert g.runs.set_index("run_id").auroc[run_id] == pytest.approx(expected["auroc"])
    cell = g.cell("mlp", "none")
    mine = g.runs[(g.runs.model == "mlp") & (g.runs.resampler == "none")]
    assert cell.auroc_mean == pytest.approx(mine.auroc.mean()) and 0.5 < cell.auroc_mean <= 1

    paths = write_report(store)
    summary = store.file("summary.md").read_text()
    report = store.file("REPORT.md").read_text()
    for text in (summary, report):
        assert "| normal " in text and "| abnormal " in text and "| S " not in text
        assert "## Sensitivity, specificity, AUROC (task `binary`)" in text
        assert "Classes (AAMI EC57): normal = normal (AAMI N); abnormal = abnormal (AAMI S, V, F, Q)." in summary
    assert "## Sensitivity and positive predictivity (normal, abnormal)" in report
    assert "macro F1 (N S V F)" not in report and "abnormal recall ranges from" in report
    section = report.split("## Sensitivity, specificity, AUROC (task `binary`)")[1].split("\n## ")[0]
    table = [[c.strip() for c in row.split("|")[1:-1]] for row in section.splitlines() if row.startswith("|")]
    assert table[0] == ["model", "resampler", "seeds", "macro F1", "sensitivity", "specificity", "AUROC"]
    random = next(row for row in table if row[:2] == ["mlp", "random"])
    c = g.cell("mlp", "random")
    assert random[4:] == [f"{c[f'{m}_mean']:.3f} ± {c[f'{m}_std']:.3f}" for m in ("sensitivity", "specificity", "auroc")]
    assert {p.name for p in paths} >= {"confusion_best.png", "recall_by_resampler.png"}
    assert "macro_f1_nsvf_mean" not in pd.read_csv(store.file("summary.csv")).columns


def test_a_run_without_probabilities_has_no_auroc(tmp_path):
    store = write_synthetic_grid(tmp_path, task="binary")
    run_id = store.manifest()["runs"][0]
    (store.run_dir(run_id) / "test_probabilities.npz").unlink()
    g = read_grid(store, compare=False)
    runs = g.runs.set_index("run_id")
    assert np.isnan(runs.auroc[run_id]) and runs.auroc.notna().sum() == 1
    assert np.isfinite(runs.sensitivity[run_id])


@pytest.mark.parametrize("name", list_external())
def test_every_external_set_declares_what_the_rest_of_the_code_asks(name, tmp_path):
    """Its fairness rule judges a manifest, its CLI option exists, and its section renders a tiny
    synthetic evaluation of a grid its rule accepts."""
    from benchmark.cli import build_parser

    entry = get_external(name)
    store = write_synthetic_grid(tmp_path, split="inter_ds2", resamplers=("none", "random"), seeds=(0, 1))
    manifest = store.manifest()
    assert entry.refused(manifest) is None, "a grid trained on other records is fair for every set"
    for split in ("intra", "inter", "inter_ds2"):
        reason = entry.refused({"split": split})
        assert reason is None or isinstance(reason, str) and reason
    args = build_parser().parse_args(["evaluate", "--on", name, entry.dir_option, "somewhere"])
    assert getattr(args, entry.dir_option[2:].replace("-", "_")) == "somewhere"
    assert entry.dir_variable == f"{name.upper()}_DIR"

    rng = np.random.default_rng(1)  # a tiny evaluation, in the layout of nstdb's records (its SNRs, segments)
    records = np.repeat(["118e24", "118e_6"], 300)
    samples = np.tile(np.arange(300) * 2 * 360, 2)  # one beat every 2 s: clean 5 minutes, then segments
    labels = rng.choice(5, 600, p=[0.6, 0.15, 0.15, 0.05, 0.05]).astype(np.int8)
    runs = manifest["runs"]
    predictions = {r: np.where(rng.uniform(size=600) < 0.7, labels, rng.integers(0, 5, 600)).astype(np.int8)
                   for r in runs}
    store.write_evaluation(name, labels, records, samples, predictions, "run_id\n")
    g = read_grid(store, compare=False, external=(name,))
    assert name in g.evaluations
    lines, drawn = entry.section(g, g.evaluations[name], store.path / "figures")
    text = "\n".join(lines)
    assert lines and lines[0].startswith("## ") and name in lines[0]
    assert "| mlp " in text and "random" in text
    assert all(p.exists() for p in drawn)
    label, scores = entry.overview(g, g.evaluations[name])
    assert name in label and set(scores) == {("mlp", "none"), ("mlp", "random")}
    assert all(0 <= v <= 1 for v in scores.values())
    assert entry.section(read_grid(write_synthetic_grid(tmp_path / "unscored", split="inter_ds2"), compare=False),
                         None, tmp_path / "figures") == ([], []), "a fair grid not scored yet: no section"
    report = store.file("REPORT.md")
    write_report(store)
    assert lines[0] in report.read_text()


def test_the_fairness_rules_refuse_what_they_should():
    assert get_external("svdb").refused({"split": "intra"}) is None
    reason = get_external("nstdb").refused({"split": "inter", "train_records": ["118", "200"],
                                            "validation_records": ["119"]})
    assert reason.startswith("its models trained on mitdb record(s) 118, 119,")
    assert get_external("nstdb").refused({"split": "inter_ds2"}) is None


def test_registering_a_set_twice_or_named_test_is_refused():
    from benchmark.external import ExternalSet, register_external

    entry = get_external("svdb")
    with pytest.raises(ValueError, match="registered twice"):
        register_external(entry)
    with pytest.raises(ValueError, match="the grid's own test part"):
        register_external(ExternalSet("test", *[getattr(entry, f) for f in
                                                ("database", "help", "load", "refused", "section", "overview",
                                                 "overview_note")]))
    with pytest.raises(KeyError, match="known: svdb, nstdb"):
        get_external("ltdb")


def test_threshold_free_scores_see_what_a_model_learned_not_where_its_threshold_sits():
    """#39: AUROC and AUPRC from the stored probabilities; shifting one class's probability by a constant factor (a
    moved prior, a moved threshold) changes its recall at the argmax but not its ranking of the beats."""
    from types import SimpleNamespace

    import pandas as pd

    from benchmark.reporting.threshold_free import threshold_free_scores, threshold_free_section
    from benchmark.tasks import get_task

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], [900, 100])
    p1 = 0.4 + 0.25 * y + 0.05 * rng.random(1000)  # every abnormal beat above every normal one, and above 0.5
    learned = np.column_stack([1 - p1, p1])
    shifted = learned * [1.0, 0.3]  # the same ranking of the beats for class 1, a lower probability everywhere
    shifted /= shifted.sum(axis=1, keepdims=True)
    probabilities = {"a": learned, "b": shifted, "c": None}
    runs = pd.DataFrame({"run_id": ["a", "b", "c"], "model": "mlp", "resampler": ["none", "random", "smote"],
                         "seed": 0})
    g = SimpleNamespace(y_true=y, runs=runs, store=SimpleNamespace(probabilities=probabilities.get),
                        task=get_task("binary"), models=["mlp"], resamplers=["none", "random", "smote"])
    scores = threshold_free_scores(g).set_index(["run_id", "class"])
    assert scores.loc[("a", "abnormal"), "auroc"] == scores.loc[("b", "abnormal"), "auroc"] == 1.0
    assert scores.loc[("b", "abnormal"), "auprc"] == 1.0 and scores.loc[("a", "abnormal"), "prevalence"] == 0.1
    assert (learned.argmax(1) == 1).sum() == 100 and (shifted.argmax(1) == 1).sum() == 0  # the decisions moved
    section = "\n".join(threshold_free_section(g, threshold_free_scores(g)))
    assert "| mlp     | none        | 1.000 / 1.000" in section and "1 run(s) were stored without" in section


def test_a_rebuild_that_changes_nothing_leaves_the_reports_as_they_are(tmp_path, monkeypatch):
    """#40: `report` once rewrote every committed report only to stamp the current commit."""
    from benchmark.reporting import provenance_section
    from benchmark.reporting.report import write_report
    from benchmark.store import RunStore
    from tests.synthetic_store import write_synthetic_grid

    store = write_synthetic_grid(tmp_path, resamplers=("none", "random"))
    grid = RunStore(tmp_path).grid(store.split, store.name)
    write_report(grid)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (store.path / "REPORT.md", store.path / "summary.md")}
    monkeypatch.setattr(provenance_section, "git_commit", lambda: "another-commit")
    write_report(grid)
    for path, (text, mtime) in before.items():
        assert path.read_bytes() == text and path.stat().st_mtime_ns == mtime, path


def test_records_of_one_person_are_counted_as_one_patient():
    """#39 item 9: "48 test records (patients)" on intra, where 201 and 202 are one person."""
    from benchmark.data.records import patients_words

    intra = [str(r) for r in range(100, 148)][:46] + ["201", "202"]
    assert patients_words(intra) == ("48 test records (47 patients: 201 and 202 are one person, resampled as 2 "
                                     "records)")
    assert patients_words(["100", "202", "203"]) == "3 test records (patients)"
