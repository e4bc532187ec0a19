"""Transfer learning: the target's record split (no patient on two sides, stratified, nested fractions, seeded),
the strategies on a saved model (what fine-tuning and freezing keep and train), the targets (svdb's patients,
binary CSVs), and the command end to end on tiny self-written databases: runs named like a grid's, skipped on
rerun, failures recorded, TRANSFER.md written."""
import numpy as np
import pytest

from benchmark.config import TrainConfig
from benchmark.errors import DataError
from benchmark.tasks import get_task
from benchmark.transfer.config import TransferConfig
from benchmark.transfer.split import fraction_size, presence, split_units
from tests.conftest import clustered_beats, write_database

SVDB_RECORDS = [str(r) for r in range(800, 808)]  # svdb's records are named 800-812, 820-829, 840-894


def _records(seed=0):
    """30 records, each with N; S in most, V in half, F in three, Q in two, one class-4-only oddity aside."""
    rng = np.random.default_rng(seed)
    units, labels = [], []
    for i in range(30):
        classes = [0] + ([1] if i % 5 else []) + ([2] if i % 2 else []) + ([3] if i in (3, 11, 20) else []) \
            + ([4] if i in (7, 25) else [])
        n = int(rng.integers(20, 60))
        units += [f"r{i:02d}"] * n
        labels += list(rng.choice(classes, n))
        labels[-len(classes):] = classes  # every class the record has, at least once
    return np.array(units), np.array(labels)


def test_the_record_split_keeps_every_record_on_one_side_stratified_by_the_classes_it_holds():
    units, labels = _records()
    split = split_units(units, labels, 5, (0.6, 0.2, 0.2), seed=7)
    sides = [set(split.fine_tune), set(split.validation), set(split.test)]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2]), "no record on two sides"
    assert set().union(*sides) == set(units), "every record somewhere"
    assert [len(s) for s in sides] == [18, 6, 6]
    names, has = presence(units, labels, 5)
    held = {side: has[np.isin(names, list(units_))].any(axis=0) for side, units_ in zip("fvt", sides)}
    assert all(held[s][:4].all() for s in "fvt"), "N, S, V and F (three records of F) reach every part"
    assert held["f"][4] and held["t"][4] and not held["v"][4], "Q has two records: fine-tuning and test get one"
    for c in (1, 2):  # common classes spread over the parts in proportion
        share = [has[np.isin(names, list(s)), c].sum() / has[:, c].sum() for s in sides]
        assert abs(share[0] - 0.6) < 0.12 and abs(share[1] - 0.2) < 0.12
    assert split == split_units(units, labels, 5, (0.6, 0.2, 0.2), seed=7), "seeded"
    assert split != split_units(units, labels, 5, (0.6, 0.2, 0.2), seed=8)


def test_fractions_are_nested_prefixes_that_cover_the_classes_first():
    units, labels = _records(1)
    split = split_units(units, labels, 5, (0.6, 0.2, 0.2), seed=3)
    fractions = [split.fraction(f) for f in (0.05, 0.1, 0.25, 0.5, 1.0)]
    assert [len(f) for f in fractions] == [1, 2, 5, 9, 18] == [fraction_size(f, 18) for f in (0.05, 0.1, 0.25, 0.5, 1)]
    assert all(set(a) < set(b) for a, b in zip(fractions, fractions[1:])), "a smaller fraction's records are a " \
                                                                         "larger one's"
    assert fractions[-1] == split.fine_tune
    names, has = presence(units, labels, 5)
    first = has[np.isin(names, list(split.fine_tune[:3]))].any(axis=0)
    assert first.sum() == has[np.isin(names, list(split.fine_tune))].any(axis=0).sum(), \
        "the first records already hold every class of the fine-tuning part"
    assert fraction_size(0.3, 10) == 3 and fraction_size(0.01, 10) == 1, "ceil, at least one"


def test_a_target_split_by_beats_is_stratified_by_class_and_too_few_units_are_refused():
    units = np.array([f"b{i}" for i in range(1000)])
    labels = (np.arange(1000) % 4 == 0).astype(int)  # 250 abnormal
    split = split_units(units, labels, 2, (0.6, 0.2, 0.2), seed=0, unit="beat")
    assert [len(s) for s in split.sides().values()] == [600, 200, 200]
    for side in split.sides().values():
        assert labels[np.isin(units, side)].sum() == len(side) // 4, "each part keeps the class mix"
    with pytest.raises(DataError, match="2 record.* needs at least 3"):
        split_units(np.array(["a", "a", "b"]), np.array([0, 1, 0]), 2)


def test_nstdb_records_of_one_patient_are_one_unit():
    from benchmark.external import get_external

    records = ["118e24", "118e_6", "119e24", "119e00"]
    assert get_external("nstdb").patients(records) == ["118", "118", "119", "119"]
    assert get_external("svdb").patients(["800", "801"]) == ["800", "801"]


def test_the_settings_check_themselves_and_scale_fine_tuning_only():
    for bad in ({"fractions": (0.5, 0.1)}, {"fractions": (0.0,)}, {"parts": (0.5, 0.5, 0.5)},
                {"strategies": ("zero_shot", "bogus")}, {"treat_target": "maybe"}, {"steps": 0}):
        with pytest.raises(ValueError, match="TransferConfig"):
            TransferConfig(**bad)
    config = TransferConfig(steps=300, fine_tune_lr=0.1)
    grid = TrainConfig(steps=2000, eval_every=250, patience=4, learning_rate=1e-3)
    tuned, frozen = config.train_config(grid, "fine_tune"), config.train_config(grid, "frozen")
    assert (tuned.steps, tuned.eval_every, tuned.patience) == (300, 250, 4)
    assert tuned.learning_rate == pytest.approx(1e-4) and frozen.learning_rate == 1e-3
    assert config.treatments("smote") == ("smote", "none") and config.treatments("none") == ("none",)
    assert TransferConfig(treat_target="yes").treatments("smote") == ("smote",)


def test_probabilities_of_a_coarser_task_are_sums_of_the_source_classes():
    from benchmark.transfer.strategies import class_map

    to_binary = class_map(get_task("aami5"), get_task("binary"))
    assert to_binary.tolist() == [[1, 0], [0, 1], [0, 1], [0, 1], [0, 1]]
    p = np.array([[0.7, 0.1, 0.1, 0.05, 0.05]], np.float32)
    assert np.allclose(p @ to_binary, [[0.7, 0.3]])
    assert class_map(get_task("binary"), get_task("aami5")) is None, "abnormal spans four AAMI classes"
    assert np.array_equal(class_map(get_task("aami5"), get_task("aami5")), np.eye(5))


@pytest.fixture(scope="module")
def saved_mlp(tmp_path_factory):
    """A tiny mlp trained on clustered beats and saved, as a grid's run leaves it."""
    from benchmark.estimators import make_estimator
    from benchmark.transfer.strategies import SourceRun
    from models import builder_arguments

    beats = clustered_beats(n_per_class=(120, 20, 30, 15, 25), seed=1)
    x = beats.x[..., None]
    estimator = make_estimator("mlp", x.shape[1:], 5, seed=0)
    estimator.fit(x, beats.y, None, x[::3], beats.y[::3], TrainConfig(steps=10, batch_size=16, eval_every=5))
    path = tmp_path_factory.mktemp("source") / "model.keras"
    path.write_bytes(estimator.save())
    return SourceRun("mlp__none__seed0__abc", "mlp", "none", 0, "abc", path, get_task("aami5"),
                     builder_arguments("mlp")), beats


def _part(beats):
    from benchmark.store import Resampled

    return Resampled(beats.x[..., None], beats.y, 0.0)


@pytest.mark.slow  # an end-to-end run through the CLI: .ci/run runs it
def test_fine_tuning_starts_from_every_saved_weight_and_freezing_trains_the_head_alone(saved_mlp):
    from benchmark.estimators.keras_estimator import load_model, model_from_bytes, predict_probabilities
    from benchmark.transfer.strategies import classifier_head, from_source, train_from_source

    source, beats = saved_mlp
    target = clustered_beats(n_per_class=(60, 10, 15, 8, 12), seed=5)
    x = target.x[..., None]
    saved = load_model(source.model_path)
    cfg = TrainConfig(steps=4, batch_size=16, eval_every=2, patience=5)
    tuned, new_head = from_source("fine_tune", source, x.shape[1:], get_task("aami5"), 0, 0, cfg)
    assert not new_head and np.array_equal(predict_probabilities(tuned, x), predict_probabilities(saved, x))
    frozen, new_head = from_source("frozen", source, x.shape[1:], get_task("aami5"), 0, 0, cfg)
    assert new_head and [w.name for w in frozen.trainable_weights] == [w.name for w in classifier_head(frozen).weights]
    result = train_from_source("frozen", source, _part(target), (x[::2], target.y[::2]), (x, target.y), cfg, 0,
                               get_task("aami5"))
    trained = model_from_bytes(result["model"])
    for before, after in zip(saved.get_weights()[:-2], trained.get_weights()[:-2]):
        assert np.array_equal(before, after), "frozen layers keep the saved weights"
    assert not np.array_equal(saved.get_weights()[-2], trained.get_weights()[-2]), "the head is new and trained"
    assert result["trainable_params"] == sum(w.size for w in trained.get_weights()[-2:])
    assert np.allclose(predict_probabilities(trained, x), result["test_probabilities"].astype(np.float32), atol=1e-3), \
        "the saved file holds the trained model"
    binary = train_from_source("fine_tune", source, _part(_binary(target)), (x[::2], _binary(target).y[::2]),
                               (x, _binary(target).y), cfg, 0, get_task("binary"))
    assert binary["new_head"] and binary["test_probabilities"].shape == (len(x), 2)
    assert set(binary["binary"]) == {"sensitivity", "specificity", "auroc"}


def _binary(beats):
    from benchmark.data.splits import relabelled

    return relabelled(beats, get_task("binary"))


def test_a_csv_target_is_binary_split_by_beat_and_refused_to_an_rr_grid(tmp_path):
    from benchmark.transfer.target import csv_target

    write_ptb_csvs(tmp_path / "ptb", n_normal=40, n_abnormal=60)
    target = csv_target(tmp_path / "ptb", {"data": {"split": "inter"}})
    assert target.name == "csv-ptb" and target.unit == "beat" and target.task.name == "binary"
    assert len(target.units) == len(set(target.units)) == 100 and np.bincount(target.beats.y).tolist() == [40, 60]
    with pytest.raises(DataError, match="trained with --rr.*without positions"):
        csv_target(tmp_path / "ptb", {"data": {"inputs": {"rr": True}}})
    (tmp_path / "bad").mkdir()
    np.savetxt(tmp_path / "bad/x.csv", np.c_[np.zeros((3, 187)), [0, 3, 1]], delimiter=",")
    with pytest.raises(DataError, match="label 3 at row 2; a binary target"):
        csv_target(tmp_path / "bad", {})
    (tmp_path / "bad/x.csv").unlink()
    np.savetxt(tmp_path / "bad/normal.csv", np.c_[np.zeros((3, 187)), [0, 0, 0]], delimiter=",")
    with pytest.raises(DataError, match="no abnormal beats"):
        csv_target(tmp_path / "bad", {})


def write_ptb_csvs(directory, n_normal=60, n_abnormal=90, seed=0):
    """PTB's Kaggle layout: 187 samples in [0, 1] and a last column, 0.0 in ptbdb_normal.csv, 1.0 in
    ptbdb_abnormal.csv, no header."""
    directory.mkdir(parents=True, exist_ok=True)
    beats = clustered_beats(n_per_class=(n_normal, n_abnormal), seed=seed)
    for name, label in (("ptbdb_normal.csv", 0), ("ptbdb_abnormal.csv", 1)):
        rows = np.clip(beats.x[beats.y == label], 0, 1)
        np.savetxt(directory / name, np.c_[rows, np.full(len(rows), float(label))], delimiter=",", fmt="%.18e")
    return directory


@pytest.fixture(scope="module")
def tiny_source(tmp_path_factory):
    """A tiny smoke grid (mlp × none) trained through the CLI, and a tiny svdb: 8 records at 128 Hz."""
    from benchmark.cli import main

    root = tmp_path_factory.mktemp("transfer")
    mitdb = write_database(root / "mitdb")
    svdb = write_database(root / "svdb", records=SVDB_RECORDS, fs=128, s_symbol="S")
    grid = ["--grid", "smoke", "--models", "mlp", "--resamplers", "none", "--steps", "4", "--eval-every", "2",
            "--data-dir", str(mitdb), "--cache-dir", str(root / "c"), "--results-dir", str(root / "r")]
    assert main(grid) == 0
    return root, grid, svdb


TRANSFER = ["transfer", "--to", "svdb", "--fractions", "0.5", "1", "--transfer-steps", "2",
            "--transfer-eval-every", "2"]


@pytest.mark.slow  # an end-to-end run through the CLI: .ci/run runs it
def test_transfer_to_svdb_runs_every_strategy_names_its_runs_and_skips_them_on_rerun(tiny_source, messages):
    from benchmark.cli import main
    from benchmark.store import RunStore

    root, grid, svdb = tiny_source
    assert main(["transfer", *grid]) == 2, "a target is needed"
    assert any("transfer needs a target: --to DATABASE or --to-csv DIR" in m for m in messages)
    assert main([*TRANSFER, *grid, "--svdb-dir", str(svdb)]) == 0
    store, = RunStore(root / "r").grids("intra")
    target, = store.transfers()
    manifest = target.manifest()
    runs = sorted(set(manifest["cells"].values()))
    by_strategy = {s: [r for r in runs if f"__{s}__" in r] for s in ("zero_shot", "fine_tune", "frozen", "scratch")}
    assert {s: len(r) for s, r in by_strategy.items()} == {"zero_shot": 1, "fine_tune": 2, "frozen": 2, "scratch": 2}
    source, = store.manifest()["runs"]
    tuned = next(r for r in by_strategy["fine_tune"] if "__f0.5__" in r)
    assert tuned.startswith(f"{source}__to-svdb__fine_tune__f0.5__treat-none__"), "source, target, strategy, " \
                                                                                  "fraction, treatment, hash"
    assert by_strategy["scratch"][0].startswith("mlp__seed0__to-svdb__scratch__"), "from scratch takes only the model"
    for run_id in runs:
        metrics = target.metrics(run_id)
        assert len(target.predictions(run_id)) == len(target.test_labels())
        assert (target.model_path(run_id) is not None) == (metrics["strategy"] != "zero_shot"), \
            "every trained model kept"
    parts = manifest["parts"]
    assert sum(p["units"] for p in parts.values()) == len(SVDB_RECORDS)
    assert not set(parts["test"]["records"]) & set(parts["fine_tune"]["records"])
    assert set(manifest["parts"]["test"]["records"]) == set(target.test_records())
    half = target.metrics(tuned)["fine_tune_part"]
    assert half["units"] == manifest["fractions"]["f0.5"]["units"] == 3 < parts["fine_tune"]["units"]
    report = store.file("TRANSFER.md").read_text()
    for words in ("## svdb: the MIT-BIH Supraventricular Arrhythmia Database", "### mlp × none",
                  "| fine-tuned      | as it is", "### Fine-tuned against from scratch", "### Reading",
                  "![learning curves](figures/transfer_svdb.png)", "## Provenance", "50% of fine-tuning"):
        assert words in report
    from benchmark.transfer.report import write_transfer_report

    path = store.file("TRANSFER.md")  # rebuilt at another commit with nothing else changed: left as it is
    path.write_text(report.replace("written by the report code at `", "written by the report code at `0ld"))
    stamped = path.read_text()
    write_transfer_report(store)
    assert path.read_text() == stamped
    assert store.file("figures/transfer_svdb.png").exists()
    done = {r: target.run_dir(r).joinpath("metrics.json").stat().st_mtime_ns for r in runs}
    messages.clear()
    assert main([*TRANSFER, *grid, "--svdb-dir", str(svdb)]) == 0
    assert "transfer: 0 trained, 7 skipped (done), 0 failed" in list(messages)
    assert {r: target.run_dir(r).joinpath("metrics.json").stat().st_mtime_ns for r in runs} == done


@pytest.mark.slow  # ~10 s: three more runs
def test_a_changed_setting_makes_new_runs_and_a_failed_run_is_recorded_while_the_others_go_on(tiny_source,
                                                                                               monkeypatch, messages):
    from benchmark.cli import main
    from benchmark.store import RunStore
    from benchmark.transfer import strategies

    root, grid, svdb = tiny_source

    def broken(*args, **kwargs):
        raise RuntimeError("out of luck")

    monkeypatch.setattr(strategies, "train_scratch", broken)
    once = [*TRANSFER[:3], "--fractions", "1", "--transfer-eval-every", "3", "--strategies", "fine_tune", "scratch",
            *grid, "--svdb-dir", str(svdb)]
    assert main([*once, "--transfer-steps", "3"]) == 1, "a failed run fails the command"
    store, = RunStore(root / "r").grids("intra")
    target, = store.transfers()
    failed = [r for r in target.manifest()["cells"].values() if target.error(r)]
    assert len(failed) == 1 and "__scratch__f1__" in failed[0]
    assert target.error(failed[0]) == "RuntimeError: out of luck"
    cell = f"{store.manifest()['runs'][0]}/fine_tune/f1/none"
    first = target.manifest()["cells"][cell]
    assert target.is_done(first), "the others go on"
    assert f"- `{failed[0]}` failed: RuntimeError: out of luck" in store.file("TRANSFER.md").read_text()
    assert main([*once, "--transfer-steps", "4", "--strategies", "fine_tune"]) == 0
    second = target.manifest()["cells"][cell]
    assert second != first and target.metrics(second)["identity"]["train"]["steps"] == 4, "new steps, a new run"
    assert first in target.manifest()["superseded"] and target.is_done(first), "the old run is kept, superseded"


@pytest.mark.slow  # ~40 s: a cnn source grid and eight cnn transfer runs
def test_transfer_to_binary_csvs_splits_by_beat_maps_the_classes_and_reports_the_binary_metrics(tmp_path, messages):
    from benchmark.cli import main
    from benchmark.store import RunStore

    mitdb = write_database(tmp_path / "mitdb")
    ptb = write_ptb_csvs(tmp_path / "ptb")
    grid = ["--grid", "smoke", "--models", "cnn", "--resamplers", "none", "--steps", "4", "--eval-every", "2",
            "--data-dir", str(mitdb), "--cache-dir", str(tmp_path / "c"), "--results-dir", str(tmp_path / "r")]
    assert main(grid) == 0
    transfer = ["transfer", *grid, "--to-csv", str(ptb), "--fractions", "0.25", "1", "--transfer-steps", "2",
                "--transfer-eval-every", "2"]
    assert main(transfer) == 0
    assert any("split by beat" in m for m in messages), "a CSV without records says it falls back to beats"
    store, = RunStore(tmp_path / "r").grids("intra")
    target, = store.transfers()
    manifest = target.manifest()
    assert target.target == "csv-ptb" and manifest["unit"] == "beat" and manifest["task"]["name"] == "binary"
    assert sum(p["beats"] for p in manifest["parts"].values()) == 150 and "records" not in manifest["parts"]["test"]
    runs = sorted(set(manifest["cells"].values()))
    assert len(runs) == 7 and all(target.is_done(r) for r in runs)
    for run_id in runs:
        metrics, p = target.metrics(run_id), target.probabilities(run_id).astype(np.float32)
        assert p.shape == (len(target.test_labels()), 2) and np.allclose(p.sum(axis=1), 1, atol=1e-2)
        assert set(metrics["binary"]) == {"sensitivity", "specificity", "auroc"}
        if metrics["strategy"] == "fine_tune":
            assert metrics["new_head"], "five source classes, two target classes: a new head"
    report = store.file("TRANSFER.md").read_text()
    for words in ("## csv-ptb: the Kaggle-layout binary CSVs of ptb", "**Split by beat**", "Sensitivity (abnormal "
                  "recall):", "Specificity (normal recall):", "AUROC:", "test beats (no records"):
        assert words in report
    messages.clear()
    assert main(transfer) == 0 and "transfer: 0 trained, 7 skipped (done), 0 failed" in list(messages)
