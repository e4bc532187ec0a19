"""Runner and run store: one folder per grid, skip on rerun, failures recorded, a complete run identity,
saved models, and tables rebuilt from saved runs."""
import json
import os
import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from benchmark.config import DataConfig, Grid, TrainConfig
from benchmark.data.splits import Split
from benchmark.reporting.report import write_report
from benchmark.running.plan import grid_directory
from benchmark.running.runner import run_grid
from benchmark.store import RunStore, StoreError
from tests.conftest import clustered_beats

GRID = Grid("test", ("mlp", "cnn"), ("none", "random"), (0,),
            TrainConfig(steps=12, batch_size=16, eval_every=6, patience=5), DataConfig(split="intra"))


@pytest.fixture(scope="module")
def split():
    b = clustered_beats(n_per_class=(150, 20, 30, 12, 25), seed=1)
    return Split("intra", b, b.take(np.arange(0, len(b), 4)), clustered_beats(seed=2), "synthetic", "k1")


@pytest.fixture(scope="module")
def trained(split, tmp_path_factory):
    """GRID trained once; tests copy it (``copy_trained``) instead of training it again."""
    root = tmp_path_factory.mktemp("trained")
    outcome = run_grid(GRID, split, root / "results", root / "cache")
    assert len(outcome.done) == 4 and not outcome.failed
    return root


def copy_trained(trained, tmp_path):
    for name in ("results", "cache"):
        shutil.copytree(trained / name, tmp_path / name)


def run(grid, split, tmp_path, **kw):
    return run_grid(grid, split, tmp_path / "results", tmp_path / "cache", **kw)


def store_of(tmp_path, grid=GRID):
    return RunStore(tmp_path / "results").grid(grid.data.split, grid_directory(grid))


def test_grid_writes_runs_and_a_rerun_trains_nothing(split, trained, tmp_path, messages):
    copy_trained(trained, tmp_path)
    store = store_of(tmp_path)
    assert store.path == tmp_path / "results/intra" / grid_directory(GRID)
    runs = sorted(p.name for p in (store.path / "runs").iterdir())
    assert [r.split("__")[:3] for r in runs] == [["cnn", "none", "seed0"], ["cnn", "random", "seed0"],
                                                  ["mlp", "none", "seed0"], ["mlp", "random", "seed0"]]
    run_id = next(r for r in runs if r.startswith("mlp__random"))
    metrics = store.metrics(run_id)
    assert metrics["ran_on"]["process"] == os.getpid() and metrics["ran_on"]["device"]["kind"] == "cpu"
    probabilities = store.probabilities(run_id)
    assert probabilities.dtype == np.float16 and probabilities.shape == (len(store.test_labels()), 5)
    assert np.array_equal(np.argmax(probabilities, axis=1), store.predictions(run_id)) or \
        np.mean(np.argmax(probabilities, axis=1) == store.predictions(run_id)) > 0.99, "float16 of the same argmax"
    assert metrics["resampling"]["trained_prior"]["N"] == pytest.approx(0.2), "oversampled to five equal classes"
    counts = metrics["resampling"]["train_class_counts"]
    assert len(set(counts.values())) == 1, "random oversampling balanced the training part"
    predictions = store.predictions(run_id)
    assert predictions.dtype == np.int8 and len(predictions) == len(split.test)
    assert np.array_equal(store.test_labels(), split.test.y)
    assert np.array_equal(store.test_records(), split.test.record)
    assert np.array_equal(np.bincount(predictions, minlength=5), np.sum(metrics["test"]["confusion_matrix"], axis=0))
    assert metrics["identity"]["builder"] == {"units": 128, "dropout": 0.2}
    assert all(store.model_path(r) is not None for r in runs), "every finished run keeps its model"
    again = run(GRID, split, tmp_path)
    assert again.done == [] and len(again.skipped) == 4
    forced = run(replace(GRID, models=("mlp",)), split, tmp_path, overwrite=True)
    assert len(forced.done) == 2
    assert any("[run 2/2]" in m and "ETA" in m for m in messages)


def test_the_saved_model_holds_the_best_validation_weights_the_test_used(split, tmp_path):
    from benchmark.metrics.evaluator import macro_f1
    from benchmark.estimators.keras_estimator import load_model

    grid = replace(GRID, models=("mlp",), resamplers=("random",),
                   train=TrainConfig(steps=60, batch_size=16, eval_every=6, patience=10))
    run(grid, split, tmp_path)
    store = store_of(tmp_path, grid)
    run_id, = store.manifest()["runs"]
    metrics = store.metrics(run_id)
    history = [h["val_macro_f1"] for h in metrics["history"]]
    assert metrics["best_step"] != metrics["history"][-1]["step"], "the test needs a run whose last check is not its best"
    model = load_model(store.model_path(run_id))
    val = np.argmax(model.predict(split.val.x[..., None], verbose=0), axis=1)
    assert macro_f1(split.val.y, val) == metrics["best_val_macro_f1"] == max(history)
    test = np.argmax(model.predict(split.test.x[..., None], verbose=0), axis=1)
    assert np.array_equal(test, store.predictions(run_id))


ONE_RUN = replace(GRID, models=("mlp",), resamplers=("random",))


@pytest.fixture(scope="module")
def one_run(split, tmp_path_factory):
    """ONE_RUN trained once; each identity test copies it (as ``copy_trained``) and changes one thing."""
    root = tmp_path_factory.mktemp("one_run")
    first = run(ONE_RUN, split, root)
    assert len(first.done) == 1
    return root, first


@pytest.mark.parametrize("change", ["train", "builder", "sampler", "training code", "model code", "data"])
def test_anything_that_changes_a_result_makes_a_new_run(change, split, one_run, tmp_path, monkeypatch):
    grid = ONE_RUN
    copy_trained(one_run[0], tmp_path)
    first = one_run[1]
    data = split
    if change == "train":
        grid = replace(grid, train=replace(grid.train, learning_rate=5e-4))
    elif change == "builder":
        from models import registry
        original = registry._MODELS["mlp"].builder
        monkeypatch.setitem(registry._MODELS, "mlp", registry.ModelEntry(
            lambda input_shape, n_classes, units=64, dropout=0.2:
            original(input_shape, n_classes, units=units, dropout=dropout), "keras"))
    elif change == "sampler":
        from imblearn.over_sampling import RandomOverSampler
        from resampling import registry
        entry = registry._RESAMPLERS["random"]
        monkeypatch.setitem(registry._RESAMPLERS, "random", registry.Entry(
            lambda seed: RandomOverSampler(random_state=seed, shrinkage=0.1), entry.kind))
    elif change == "training code":
        from benchmark.running import plan
        extra = tmp_path / "trainer_patch.py"
        extra.write_text("# a change to the trainer\n")
        monkeypatch.setattr(plan, "TRAINING_SOURCES", (*plan.TRAINING_SOURCES, extra))
    elif change == "model code":
        from benchmark.running import plan
        monkeypatch.setattr(plan, "model_code", lambda model: "another digest")
    elif change == "data":  # the same test part, one validation beat fewer: what the data key digests
        data = replace(split, val=split.val.take(np.arange(1, len(split.val))))
    second = run(grid, data, tmp_path)
    if change == "data":
        assert second.done[0].split("__")[-1] != first.done[0].split("__")[-1], "the run identity changed"
        assert store_of(tmp_path, grid).manifest()["data_key"] != store_of(tmp_path, grid).metrics(
            first.done[0])["data_key"]
    assert len(second.done) == 1 and not second.skipped and second.done != first.done
    if change == "train":  # another budget is another grid, in its own directory
        assert store_of(tmp_path, grid).manifest()["runs"] == second.done
        return
    manifest = store_of(tmp_path, grid).manifest()
    assert manifest["runs"] == second.done and manifest["superseded"] == first.done
    assert store_of(tmp_path, grid).is_done(first.done[0]), "the superseded run stays on disk"


@pytest.mark.slow  # the fast suite stays under its 5-minute budget
def test_the_resampled_part_is_cached_under_its_sampler_identity(split, tmp_path, monkeypatch, messages):
    run(replace(GRID, models=("mlp", "mlp")), split, tmp_path)
    assert sum("resampling the training part with random" in m for m in messages) == 1
    assert len(list((tmp_path / "cache/resampled").glob("random-seed0-*.npz"))) == 1
    from imblearn.over_sampling import RandomOverSampler
    from resampling import registry
    entry = registry._RESAMPLERS["random"]
    monkeypatch.setitem(registry._RESAMPLERS, "random", registry.Entry(
        lambda seed: RandomOverSampler(random_state=seed, sampling_strategy="not majority"), entry.kind))
    run(replace(GRID, models=("mlp",)), split, tmp_path)
    assert len(list((tmp_path / "cache/resampled").glob("random-seed0-*.npz"))) == 2


def test_running_part_of_a_grid_adds_to_its_report_instead_of_hiding_the_rest(split, trained, tmp_path):
    copy_trained(trained, tmp_path)
    run(replace(GRID, models=("mlp",), seeds=(1,)), split, tmp_path)
    store = store_of(tmp_path)
    manifest = store.manifest()
    assert manifest["models"] == ["mlp", "cnn"] and manifest["seeds"] == [0, 1] and len(manifest["runs"]) == 6
    write_report(store)
    runs = pd.read_csv(store.file("runs.csv"))
    assert sorted(runs.model.unique()) == ["cnn", "mlp"] and len(runs) == 6


@pytest.mark.slow  # the fast suite stays under its 5-minute budget
def test_grids_live_side_by_side_and_never_overwrite_each_other(split, trained, tmp_path):
    small = replace(GRID, name="smoke", models=("mlp",), resamplers=("none",))
    copy_trained(trained, tmp_path)
    write_report(store_of(tmp_path))
    before = {p: p.read_bytes() for p in store_of(tmp_path).path.rglob("*") if p.is_file()}
    other = Split("intra", split.train, split.val, clustered_beats(n_per_class=(50, 10, 10, 10, 10), seed=5),
                  "synthetic", "k9")
    run(small, other, tmp_path)
    write_report(store_of(tmp_path, small))
    assert store_of(tmp_path, small).path != store_of(tmp_path).path
    assert {p: p.read_bytes() for p in store_of(tmp_path).path.rglob("*") if p.is_file()} == before


def test_failed_resampler_is_recorded_and_the_grid_goes_on(tmp_path):
    b = clustered_beats(n_per_class=(150, 3, 30, 12, 25), seed=1)  # 3 S beats: SMOTE needs 6
    split = Split("intra", b, b, b, "synthetic", "k2")
    grid = Grid("test", ("mlp",), ("smote", "none"), (0,), GRID.train, DataConfig(split="intra"))
    outcome = run(grid, split, tmp_path)
    assert len(outcome.failed) == 1 and len(outcome.done) == 1
    (failed_id, reason), = outcome.failed.items()
    assert failed_id.startswith("mlp__smote__") and "smote" in reason
    store = store_of(tmp_path, grid)
    assert store.error(failed_id) == reason
    summary = write_report(store)[2].read_text()
    assert "failed" in summary and failed_id in summary


def test_report_is_rebuilt_byte_identically_from_saved_runs(split, trained, tmp_path):
    copy_trained(trained, tmp_path)
    store = store_of(tmp_path)
    paths = write_report(store)
    first = [p.read_bytes() for p in paths]
    for p in paths:
        p.unlink()
    assert [p.read_bytes() for p in write_report(store)] == first
    summary = pd.read_csv(paths[1])
    assert len(summary) == 4 and summary.groupby("model")["best_for_model"].sum().tolist() == [1, 1]
    runs = pd.read_csv(paths[0])
    assert set(runs.columns) >= {"macro_f1", "recall_N", "recall_Q", "seed", "train_seconds"}
    md = paths[2].read_text()
    assert "one seed: no spread or interval can be given" in md and "| mlp " in md


def test_tables_are_recomputed_from_the_saved_predictions(split, tmp_path):
    run(replace(GRID, models=("mlp",)), split, tmp_path)
    store = store_of(tmp_path)
    run_id = store.manifest()["runs"][0]
    metrics_path = store.run_dir(run_id) / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["test"]["macro_f1"] = 0.123456  # a stale number in metrics.json is not what the table shows
    metrics_path.write_text(json.dumps(metrics))
    write_report(store)
    runs = pd.read_csv(store.file("runs.csv"))
    from benchmark.metrics.evaluator import macro_f1
    expected = macro_f1(store.test_labels(), store.predictions(run_id))
    assert runs.set_index("run_id").macro_f1[run_id] == pytest.approx(expected, abs=1e-6) != 0.123456


@pytest.mark.slow  # the fast suite stays under its 5-minute budget
def test_report_with_figures_and_seed_count_edge_cases(split, tmp_path):
    two_seeds = replace(GRID, models=("mlp",), seeds=(0, 1))
    run(two_seeds, split, tmp_path)
    store = store_of(tmp_path, two_seeds)
    paths = write_report(store)
    names = {p.name for p in paths}
    assert {"REPORT.md", "significance.csv", "macro_f1_heatmap.png", "confusion_best.png",
            "validation_curves.png", "recall_by_resampler.png", "cost_vs_macro_f1.png"} <= names
    for p in paths:
        assert p.stat().st_size > 0
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000
    summary = pd.read_csv(store.file("summary.csv"))
    assert (summary.n_seeds == 2).all() and summary.macro_f1_ci_low.notna().all()
    assert (summary.macro_f1_ci_low <= summary.macro_f1_mean).all()
    report = store.file("REPORT.md").read_text()
    assert "mean ± sample std over seeds (seeds 0, 1)" in report and "![macro F1 heatmap]" in report
    assert "Validation part: a stratified sample of the training records' beats (the same patients)." in report
    significance = pd.read_csv(store.file("significance.csv"))
    assert significance.n_seeds.tolist() == [2] and significance.family.tolist() == ["resampler vs none"]
    # the inter-patient literature's form: Se and +P for N, S, V, F, and macro F1 over those four
    assert "## Sensitivity and positive predictivity (N, S, V, F)" in report
    runs_csv = pd.read_csv(store.file("runs.csv"))
    nsvf = runs_csv[[f"f1_{k}" for k in "NSVF"]].mean(axis=1).groupby(runs_csv.resampler).mean()
    assert np.allclose(summary.set_index("resampler").macro_f1_nsvf_mean.sort_index(), nsvf.sort_index())
    # the patient is the unit: records (and seeds) are resampled, and the report says so
    assert significance.unit.tolist() == ["record"]
    assert significance.n_units.tolist() == [len(set(split.test.record))]
    assert "test records (patients), and the seeds" in report
    store.file("test_records.npy").unlink()  # a run store from before records were saved
    write_report(store)
    assert pd.read_csv(store.file("significance.csv")).unit.tolist() == ["beat"]
    assert "overstate certainty" in store.file("REPORT.md").read_text()

    one_seed = replace(GRID, models=("mlp",))
    run_grid(one_seed, split, tmp_path / "one", tmp_path / "cache")
    one = RunStore(tmp_path / "one").grid("intra", grid_directory(one_seed))
    write_report(one)
    summary = pd.read_csv(one.file("summary.csv"))
    assert summary.macro_f1_ci_low.isna().all()
    assert "n/a (1 seed)" in one.file("REPORT.md").read_text()


def test_an_evaluation_is_one_compressed_checksummed_file_and_a_corrupt_one_is_named(tmp_path):
    from benchmark.store import GridStore, StoreError

    store = GridStore(tmp_path / "intra" / "g")
    labels = np.zeros(100_000, np.int8)  # a database of mostly N: compression keeps the committed store small
    records, samples = np.array(["100"] * 100_000), np.arange(100_000)
    store.write_evaluation("svdb", labels, records, samples, {"a": labels, "b": labels + 1}, "run_id\n")
    got_labels, got_records, got_samples, predictions = store.evaluation("svdb")
    assert np.array_equal(got_records, records) and np.array_equal(got_samples, samples)
    assert sorted(predictions) == ["a", "b"] and np.array_equal(predictions["b"], labels + 1)
    path, = (tmp_path / "intra/g/evaluations").glob("svdb.*z")
    raw = labels.nbytes * 3 + records.astype("U8").nbytes + samples.nbytes
    assert path.stat().st_size < raw / 10, "mostly-N labels and repeated record names compress"
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(StoreError, match=r"svdb.npz: missing or corrupt"):
        store.evaluation("svdb")
    assert store.evaluation("nstdb") is None


def test_the_overview_names_the_gpu_that_trained_a_grid_not_only_its_host():
    from benchmark.reporting.report import _machine

    machine = {"cpu": "Intel Xeon", "cores": 16}
    gpu = {"machine": machine, "keras_backend": "jax", "device": {"kind": "gpu", "gpu": "NVIDIA H200"}}
    assert _machine({"provenance": gpu}) == "NVIDIA H200 (jax backend), host Intel Xeon, 16 cores"
    assert _machine({"provenance": {"machine": machine, "device": {"kind": "cpu"}}}) == \
        "Intel Xeon, 16 cores (CPU only)"
    assert _machine({}) == "an unrecorded machine"


def test_another_test_part_is_refused_before_anything_is_written(split, tmp_path):
    grid = replace(GRID, models=("mlp",), resamplers=("none",))
    run(grid, split, tmp_path)
    manifest = (store_of(tmp_path, grid).path / "grid.json").read_text()
    other = replace(split, test=split.test.take(np.arange(1, len(split.test))))
    with pytest.raises(StoreError, match="test part differs"):
        run(grid, other, tmp_path)
    assert (store_of(tmp_path, grid).path / "grid.json").read_text() == manifest, "the manifest is untouched"


@pytest.mark.slow  # the fast suite stays under its 5-minute budget; .ci/run runs it
def test_changing_how_validation_is_carved_trains_new_runs(tiny_db, tmp_path, monkeypatch):
    """The data key digests what the parts hold, so a change to the code that carves them (here the seed
    of carve_validation) is a new identity for every run and every cached treated part."""
    from benchmark.data import splits

    grid = replace(GRID, models=("mlp",), resamplers=("random",), data=DataConfig(split="intra"))
    first = run(grid, splits.load_split("intra", tiny_db, cache_dir=tmp_path / "cache"), tmp_path)
    again = run(grid, splits.load_split("intra", tiny_db, cache_dir=tmp_path / "cache"), tmp_path)
    assert again.skipped == first.done and not again.done
    carve = splits.carve_validation
    monkeypatch.setattr(splits, "carve_validation", lambda train, fraction=splits.VAL_FRACTION, seed=splits.SPLIT_SEED:
                        carve(train, fraction, seed + 1))
    changed = run(grid, splits.load_split("intra", tiny_db, cache_dir=tmp_path / "cache"), tmp_path)
    assert len(changed.done) == 1 and not changed.skipped and changed.done != first.done
    assert len(list((tmp_path / "cache/resampled").glob("random-seed0-*.npz"))) == 2, "a new treated part"
    assert store_of(tmp_path, grid).manifest()["superseded"] == first.done
