"""Runner and report: run store, skip on rerun, failures recorded, tables rebuilt from saved runs."""
import json

import numpy as np
import pytest

from benchmark.config import DataConfig, Grid, TrainConfig
from benchmark.data.splits import Split
from benchmark.reporting.report import write_report
from benchmark.running.runner import run_grid
from tests.conftest import clustered_beats

GRID = Grid("test", ("mlp", "resnet"), ("none", "random"), (0,),
            TrainConfig(steps=12, batch_size=16, eval_every=6, patience=5), DataConfig(split="intra"))


@pytest.fixture(scope="module")
def split():
    b = clustered_beats(n_per_class=(150, 20, 30, 12, 25), seed=1)
    return Split("intra", b, b.take(np.arange(0, len(b), 4)), clustered_beats(seed=2), "synthetic", "k1")


def run(grid, split, tmp_path, **kw):
    messages = []
    outcome = run_grid(grid, split, tmp_path / "results", tmp_path / "cache", log=messages.append, **kw)
    return outcome, messages


def test_grid_writes_runs_and_a_rerun_trains_nothing(split, tmp_path):
    outcome, messages = run(GRID, split, tmp_path)
    assert len(outcome.done) == 4 and not outcome.failed
    runs = sorted(p.name for p in (tmp_path / "results/intra/runs").iterdir())
    assert [r.split("__")[:3] for r in runs] == [["mlp", "none", "seed0"], ["mlp", "random", "seed0"],
                                                  ["resnet", "none", "seed0"], ["resnet", "random", "seed0"]]
    assert any("[run 2/4]" in m and "ETA" in m for m in messages)
    metrics = json.loads(next((tmp_path / "results/intra/runs").glob("mlp__random*/metrics.json")).read_text())
    counts = metrics["resampling"]["train_class_counts"]
    assert len(set(counts.values())) == 1, "random oversampling balanced the training part"
    predictions = np.load(next((tmp_path / "results/intra/runs").glob("mlp__random*/test_predictions.npy")))
    assert predictions.dtype == np.int8 and len(predictions) == len(split.test)
    assert np.array_equal(np.load(tmp_path / "results/intra/test_labels.npy"), split.test.y)
    assert np.array_equal(np.load(tmp_path / "results/intra/test_records.npy"), split.test.record)
    assert np.array_equal(np.bincount(predictions, minlength=5), np.sum(metrics["test"]["confusion_matrix"], axis=0))
    again, _ = run(GRID, split, tmp_path)
    assert again.done == [] and len(again.skipped) == 4
    forced, _ = run(GRID, split, tmp_path, overwrite=True)
    assert len(forced.done) == 4


def test_changed_settings_never_reuse_results(split, tmp_path):
    run(GRID, split, tmp_path)
    from dataclasses import replace
    changed = replace(GRID, train=replace(GRID.train, steps=6, eval_every=6))
    outcome, _ = run(changed, split, tmp_path)
    assert len(outcome.done) == 4 and not outcome.skipped


def test_resampled_set_is_computed_once_and_cached(split, tmp_path):
    _, messages = run(GRID, split, tmp_path)
    assert sum("resampling the training part with random" in m for m in messages) == 1
    cached = list((tmp_path / "cache/resampled").glob("*-random-seed0-*.npz"))
    assert len(cached) == 1


def test_failed_resampler_is_recorded_and_the_grid_goes_on(tmp_path):
    b = clustered_beats(n_per_class=(150, 3, 30, 12, 25), seed=1)  # 3 S beats: SMOTE needs 6
    split = Split("intra", b, b, b, "synthetic", "k2")
    grid = Grid("test", ("mlp",), ("smote", "none"), (0,), GRID.train, DataConfig(split="intra"))
    outcome, _ = run(grid, split, tmp_path)
    assert len(outcome.failed) == 1 and len(outcome.done) == 1
    (failed_id, reason), = outcome.failed.items()
    assert failed_id.startswith("mlp__smote__") and "smote" in reason
    error = json.loads((tmp_path / "results/intra/runs" / failed_id / "error.json").read_text())
    assert error["error"] == reason
    summary = write_report(tmp_path / "results", "intra")[2].read_text()
    assert "failed" in summary and failed_id in summary


def test_report_is_rebuilt_byte_identically_from_saved_runs(split, tmp_path):
    run(GRID, split, tmp_path)
    paths = write_report(tmp_path / "results", "intra")
    first = [p.read_bytes() for p in paths]
    for p in paths:
        p.unlink()
    assert [p.read_bytes() for p in write_report(tmp_path / "results", "intra")] == first
    import pandas as pd
    summary = pd.read_csv(paths[1])
    assert len(summary) == 4 and summary.groupby("model")["best_for_model"].sum().tolist() == [1, 1]
    runs = pd.read_csv(paths[0])
    assert set(runs.columns) >= {"macro_f1", "recall_N", "recall_Q", "seed", "train_seconds"}
    md = paths[2].read_text()
    assert "one seed: no spread or interval can be given" in md and "| mlp " in md


def test_report_with_figures_and_seed_count_edge_cases(split, tmp_path):
    from dataclasses import replace

    import pandas as pd

    two_seeds = replace(GRID, models=("mlp",), seeds=(0, 1))
    run(two_seeds, split, tmp_path)
    paths = write_report(tmp_path / "results", "intra")
    names = {p.name for p in paths}
    assert {"REPORT.md", "significance.csv", "macro_f1_heatmap.png", "confusion_best.png",
            "validation_curves.png", "recall_by_resampler.png", "cost_vs_macro_f1.png"} <= names
    for p in paths:
        assert p.stat().st_size > 0
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000
    summary = pd.read_csv(tmp_path / "results/intra/summary.csv")
    assert (summary.n_seeds == 2).all() and summary.macro_f1_ci_low.notna().all()
    assert (summary.macro_f1_ci_low <= summary.macro_f1_mean).all()
    report = (tmp_path / "results/intra/REPORT.md").read_text()
    assert "mean ± sample std over seeds (seeds 0, 1)" in report and "![macro F1 heatmap]" in report
    significance = pd.read_csv(tmp_path / "results/intra/significance.csv")
    assert significance.n_seeds.tolist() == [2] and significance.family.tolist() == ["resampler vs none"]
    # the inter-patient literature's form: Se and +P for N, S, V, F, and macro F1 over those four
    assert "## Sensitivity and positive predictivity (N, S, V, F)" in report
    runs_csv = pd.read_csv(tmp_path / "results/intra/runs.csv")
    nsvf = runs_csv[[f"f1_{k}" for k in "NSVF"]].mean(axis=1).groupby(runs_csv.resampler).mean()
    assert np.allclose(summary.set_index("resampler").macro_f1_nsvf_mean.sort_index(), nsvf.sort_index())
    # the patient is the unit: records (and seeds) are resampled, and the report says so
    assert significance.unit.tolist() == ["record"]
    assert significance.n_units.tolist() == [len(set(split.test.record))]
    assert "test records (patients), and the seeds" in report
    (tmp_path / "results/intra/test_records.npy").unlink()  # a run store from before records were saved
    write_report(tmp_path / "results", "intra")
    assert pd.read_csv(tmp_path / "results/intra/significance.csv").unit.tolist() == ["beat"]
    assert "overstate certainty" in (tmp_path / "results/intra/REPORT.md").read_text()

    one_seed = replace(GRID, models=("mlp",))
    run(one_seed, split, tmp_path)
    write_report(tmp_path / "results", "intra")
    summary = pd.read_csv(tmp_path / "results/intra/summary.csv")
    assert summary.macro_f1_ci_low.isna().all()
    assert "n/a (1 seed)" in (tmp_path / "results/intra/REPORT.md").read_text()
