"""Using a trained model: export a bundle from a run store, load it safely, predict beats of a CSV, a WFDB
record (annotated or not) and a raw signal, with the errors a user meets named."""
import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.errors import DataError
from benchmark.serving.bundle import best_run, export_bundle, load_bundle, store_of_run
from benchmark.serving.inputs import read_input, signal_beats
from benchmark.serving.predict import classify
from benchmark.store import RunStore
from tests.conftest import REAL_MITDB, write_record
from tests.synthetic_store import write_synthetic_grid

ROOT = Path(__file__).resolve().parents[1]
GRID = RunStore(ROOT / "results").grid("intra", "quick")
MLP_RUN = "mlp__none__seed0__12a28b75a9"  # the smallest committed model


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle")
    export_bundle(GRID, MLP_RUN, out)
    return out


@pytest.fixture(scope="module")
def bundle(bundle_dir):
    return load_bundle(bundle_dir)


def test_best_run_is_chosen_on_validation_with_ties_to_the_first_run_id():
    runs = GRID.manifest()["runs"]
    scores = {r: GRID.metrics(r)["best_val_macro_f1"] for r in runs}
    best = best_run(GRID)
    assert scores[best] == max(scores.values())
    assert best == min(r for r in runs if scores[r] == scores[best])


def test_bundle_holds_the_model_and_what_it_needs(bundle_dir, bundle):
    meta = json.loads((bundle_dir / "bundle.json").read_text())
    metrics = GRID.metrics(MLP_RUN)
    assert (bundle_dir / "model.keras").read_bytes() == GRID.model_path(MLP_RUN).read_bytes()
    assert meta["classes"] == ["N", "S", "V", "F", "Q"] and meta["task"] == "aami5"
    assert meta["beats"]["target_fs"] == 125 and meta["beats"]["length"] == 187 and meta["beats"]["normalise"] == "beat"
    assert meta["run"]["run_id"] == MLP_RUN and meta["data_key"] == metrics["data_key"]
    assert meta["test"] == metrics["test"] and meta["commit"] == metrics["provenance"]["commit"]
    counts = metrics["resampling"]["train_class_counts"]  # resampler none: the prior is the training part's
    total = sum(counts.values())
    assert meta["trained_prior"] == pytest.approx({c: n / total for c, n in counts.items()})
    assert bundle.classes == ("N", "S", "V", "F", "Q") and bundle.params.target_fs == 125


def test_bundle_predicts_what_the_run_predicted(bundle):
    from benchmark.estimators import load_estimator

    # the served path (predict_on_batch, chunks of PREDICT_BATCH) against the runs' (model.predict)
    x = np.random.default_rng(0).random((2100, 187), dtype=np.float32)
    direct = load_estimator("mlp", GRID.model_path(MLP_RUN), 5).predict_proba(x)
    np.testing.assert_allclose(bundle.predict_proba(x), direct, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bundle.predict_proba(x[:16, :, None]), direct[:16], rtol=1e-5, atol=1e-6)
    for n in (1, 3):
        np.testing.assert_allclose(bundle.predict_proba(x[:n]), direct[:n], rtol=1e-5, atol=1e-6)
    with pytest.raises(DataError, match=r"shaped \(n, 187\)"):
        bundle.predict_proba(x[:, :100])


def test_export_refuses_a_run_without_a_model(tmp_path):
    store = write_synthetic_grid(tmp_path / "results")
    run_id = store.manifest()["runs"][0]
    with pytest.raises(DataError, match="saved no model"):
        export_bundle(store, run_id, tmp_path / "b")
    with pytest.raises(DataError, match="no finished run with a saved model"):
        best_run(store)
    assert main(["export", "--run", str(store.run_dir(run_id)), "--out", str(tmp_path / "b")]) == 2
    with pytest.raises(DataError, match="not a run folder"):
        store_of_run(tmp_path)


def test_a_skops_bundle_loads_and_predicts(tmp_path):
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    from tests.conftest import clustered_beats

    store = write_synthetic_grid(tmp_path / "results", models=("random_forest",), resamplers=("none",))
    run_id = store.manifest()["runs"][0]
    beats = clustered_beats()
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(beats.x, beats.y)
    (store.run_dir(run_id) / "model.skops").write_bytes(sio.dumps(forest))
    export_bundle(store, run_id, tmp_path / "b")
    loaded = load_bundle(tmp_path / "b")
    np.testing.assert_allclose(loaded.predict_proba(beats.x[:20]), forest.predict_proba(beats.x[:20]))


def test_export_command_best_writes_a_bundle(tmp_path, capsys):
    assert main(["export", "--grid", "quick", "--split", "intra", "--best", "--results-dir", str(ROOT / "results"),
                 "--out", str(tmp_path / "b")]) == 0
    meta = json.loads((tmp_path / "b" / "bundle.json").read_text())
    assert meta["run"]["run_id"] == best_run(GRID)
    assert main(["export", "--grid", "quick", "--split", "intra", "--out", str(tmp_path / "c")]) == 2  # no --best


def test_kaggle_csv_is_classified_with_its_given_classes(bundle, tmp_path):
    from tests.conftest import clustered_beats

    beats = clustered_beats((6, 2, 2, 1, 1))
    path = tmp_path / "beats.csv"
    np.savetxt(path, np.c_[beats.x, beats.y], delimiter=",", fmt="%.6g")
    result = classify(bundle, read_input(path))
    assert result["summary"]["beats"] == 12 and sum(result["summary"]["per_class"].values()) == 12
    assert [r["given_class"] for r in result["rows"]] == [("N", "S", "V", "F", "Q")[c] for c in beats.y]
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-4 and r["sample"] is None for r in result["rows"])
    np.savetxt(tmp_path / "bare.csv", beats.x, delimiter=",", fmt="%.6g")  # 187 columns, no class
    assert "given_class" not in classify(bundle, read_input(tmp_path / "bare.csv"))["rows"][0]


def test_wfdb_record_beats_sit_at_its_annotations_or_at_detected_peaks(tmp_path):
    write_record(tmp_path, "200", n_beats=40)
    annotated = read_input(tmp_path / "200")
    assert "reference annotations" in annotated.source and annotated.labels is not None
    for suffix in (".hea", ".dat"):
        (tmp_path / "bare").mkdir(exist_ok=True)
        (tmp_path / "bare" / f"200{suffix}").write_bytes((tmp_path / f"200{suffix}").read_bytes())
    detected = read_input(tmp_path / "bare" / "200")
    assert "XQRS" in detected.source and detected.labels is None
    assert abs(len(detected) - len(annotated)) <= 2
    # every detected R peak within 50 ms of an annotated one, in the original record's samples
    gaps = np.abs(detected.sample[:, None] - annotated.sample[None, :]).min(axis=1)
    assert np.all(gaps <= 18)


def test_raw_signal_csv_needs_its_rate(tmp_path):
    import wfdb

    write_record(tmp_path, "201", n_beats=30)
    signal = wfdb.rdrecord(str(tmp_path / "201"), channels=[0]).p_signal[:, 0]
    np.savetxt(tmp_path / "raw.csv", signal[:, None], delimiter=",")
    with pytest.raises(DataError, match="--fs"):
        read_input(tmp_path / "raw.csv")
    beats = read_input(tmp_path / "raw.csv", fs=360)
    assert len(beats) >= 25 and beats.x.shape[1] == 187
    assert np.array_equal(beats.sample, signal_beats(signal, 360).sample)
    with pytest.raises(DataError, match="outside"):
        read_input(tmp_path / "raw.csv", fs=1)


def test_predict_command_writes_csv_and_json(bundle_dir, tmp_path, capsys):
    write_record(tmp_path, "202", n_beats=30)
    assert main(["predict", str(bundle_dir), str(tmp_path / "202"), "--out", str(tmp_path / "p.json")]) == 0
    result = json.loads((tmp_path / "p.json").read_text())
    assert result["summary"]["beats"] == len(result["rows"]) > 20
    assert "202 (beats at its reference annotations)" in capsys.readouterr().out
    assert main(["predict", str(bundle_dir), str(tmp_path / "202"), "--out", str(tmp_path / "p.csv")]) == 0
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "beat,sample,class,given_class,p_N,p_S,p_V,p_F,p_Q" and len(lines) == len(result["rows"]) + 1
    assert main(["predict", str(bundle_dir), str(tmp_path / "missing")]) == 2
    assert main(["predict", str(tmp_path), str(tmp_path / "202")]) == 2  # not a bundle


@pytest.mark.real_data
@pytest.mark.skipif(not (REAL_MITDB / "100.hea").exists(), reason="no mitdb at ../shared/data/mitdb")
def test_record_100_is_mostly_normal(bundle):
    result = classify(bundle, read_input(REAL_MITDB / "100"))
    # record 100: 2,239 N, 33 A, 1 V annotated; a few at the edges fall outside a window
    assert 2250 <= result["summary"]["beats"] <= 2273
    assert result["summary"]["per_class"]["N"] > 0.9 * result["summary"]["beats"]


def test_a_bundle_records_why_it_has_no_onnx_copy(tmp_path, monkeypatch):
    """A scikit-learn model is not attempted; without the onnx extra nothing is attempted; both say so."""
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    from benchmark.serving import onnx_model
    from tests.conftest import clustered_beats

    store = write_synthetic_grid(tmp_path / "results", models=("random_forest",), resamplers=("none",))
    run_id = store.manifest()["runs"][0]
    beats = clustered_beats()
    (store.run_dir(run_id) / "model.skops").write_bytes(
        sio.dumps(RandomForestClassifier(n_estimators=2, random_state=0).fit(beats.x, beats.y)))
    export_bundle(store, run_id, tmp_path / "forest")
    record = json.loads((tmp_path / "forest" / "bundle.json").read_text())["onnx"]
    assert record == {"written": False, "reason": record["reason"]} and "scikit-learn model" in record["reason"]
    with pytest.raises(DataError, match="no ONNX copy .*scikit-learn"):
        load_bundle(tmp_path / "forest", "onnx")
    monkeypatch.setattr(onnx_model, "_installed", lambda module: module != "tf2onnx")
    export_bundle(GRID, MLP_RUN, tmp_path / "mlp")
    record = json.loads((tmp_path / "mlp" / "bundle.json").read_text())["onnx"]
    assert record["written"] is False and "tf2onnx not installed" in record["reason"]
    assert not (tmp_path / "mlp" / "model.onnx").exists()
    with pytest.raises(DataError, match="unknown runtime 'tflite'"):
        load_bundle(tmp_path / "mlp", "tflite")


def test_every_bundle_carries_a_model_card_with_its_test_scores_and_intervals(bundle_dir, bundle):
    import yaml

    text = (bundle_dir / "MODEL_CARD.md").read_text()
    _, header, body = text.split("---\n", 2)
    card = yaml.safe_load(header)
    [result] = card["model-index"][0]["results"]
    assert card["model-index"][0]["name"] == MLP_RUN and result["dataset"]["split"] == "intra"
    scores = {m["name"]: m for m in result["metrics"]}
    macro = scores["test macro F1"]
    assert macro["value"] == pytest.approx(GRID.metrics(MLP_RUN)["test"]["macro_f1"], abs=1e-4)
    low, high = macro["args"]["interval_95_over_test_records"]
    assert low <= macro["value"] <= high and high - low > 0  # an interval over the test records, not a point
    assert scores["test recall of S"]["value"] == pytest.approx(GRID.metrics(MLP_RUN)["test"]["recall"]["S"], abs=1e-4)
    for heading in ("## Intended use", "## Training and evaluation data", "## Test scores", "## Limits"):
        assert heading in body
    assert "48 records" in body and "intra-patient" in body  # trained on which records, and how it was split
    assert bundle.card == text


def test_predict_warns_of_a_record_the_model_was_trained_on(bundle, tmp_path, messages):
    """Every mitdb record trained the intra grid's models: a recording named 200 is one of them; 800 (svdb) not."""
    write_record(tmp_path, "200", n_beats=30)
    write_record(tmp_path, "800", n_beats=30, fs=128, s_symbol="S")
    seen = classify(bundle, read_input(tmp_path / "200"))
    assert seen["warnings"] == ["record 200 was in this model's training part (intra split): its beats trained the "
                                "model, so these predictions are no test of it"]
    assert classify(bundle, read_input(tmp_path / "800"))["warnings"] == []


def test_the_command_line_says_so_too(bundle_dir, tmp_path, messages):
    write_record(tmp_path, "200", n_beats=30)
    assert main(["predict", str(bundle_dir), str(tmp_path / "200"), "--out", str(tmp_path / "out.json")]) == 0
    assert any(m.startswith("warning: record 200 was in this model's training part") for m in messages)
    assert json.loads((tmp_path / "out.json").read_text())["warnings"]


def test_predict_to_standard_output_is_a_csv_and_nothing_else(bundle_dir, tmp_path, capsys):
    """#40: `predict bundle input > beats.csv` once wrote the class summary into the CSV."""
    import csv

    write_record(tmp_path, "202", n_beats=30)
    assert main(["predict", str(bundle_dir), str(tmp_path / "202")]) == 0
    out, err = capsys.readouterr()
    rows = list(csv.reader(out.splitlines()))
    assert rows[0][:3] == ["beat", "sample", "class"] and all(len(r) == len(rows[0]) for r in rows)
    assert "beats" in err  # the summary, on standard error


def test_result_files_are_readable_as_any_file_the_user_makes(tmp_path):
    """#40: result files were created 0600 (mkstemp's mode) while model.onnx was 0644."""
    import os

    from benchmark.files import write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "metrics.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "metrics.json").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"hello world\nsecond line\n"])
def test_a_file_that_is_not_numbers_is_named_so_before_any_rate_is_asked(tmp_path, content):
    """#40: predict on a binary or non-numeric file asked for --fs before saying the file is not numbers."""
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match="not a CSV of numbers"):
        read_input(path)
