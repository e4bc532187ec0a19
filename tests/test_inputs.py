"""What a model sees of a beat: truncation, beat statistics, RR-interval features, and how they reach it."""
import json

import numpy as np
import pytest

from benchmark.config import GRIDS, DataConfig, customise
from benchmark.data.inputs import (LOCAL_BEATS, RR_FEATURES, InputConfig, beat_statistics, model_inputs,
                                   record_rr_features, rr_features, with_inputs)
from benchmark.errors import DataError


def test_rr_features_of_a_short_record_by_hand():
    t = np.array([0.0, 1.0, 1.8, 3.0])
    f = rr_features(t)
    assert f.shape == (4, len(RR_FEATURES)) and f.dtype == np.float32
    np.testing.assert_allclose(f[:, 0], [1.0, 1.0, 0.8, 1.2], rtol=1e-6)  # before: the first beat's is its after
    np.testing.assert_allclose(f[:, 1], [1.0, 0.8, 1.2, 1.2], rtol=1e-6)  # after: the last beat's is its before
    np.testing.assert_allclose(f[:, 2], f[:, 0] / f[:, 1], rtol=1e-6)
    np.testing.assert_allclose(f[:, 3], np.full(4, 1.0), rtol=1e-6)  # every beat's window holds all four
    np.testing.assert_allclose(f[:, 4], np.full(4, 1.0), rtol=1e-6)  # 3 s over 3 intervals


def test_rr_features_local_average_is_the_mean_of_the_centred_window_and_order_does_not_matter():
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.4, 1.6, 60))
    f = rr_features(t)
    pre = np.concatenate([[t[1] - t[0]], np.diff(t)])
    half = LOCAL_BEATS // 2
    brute = [pre[max(0, i - half):i + LOCAL_BEATS - half].mean() for i in range(len(t))]
    np.testing.assert_allclose(f[:, 3], brute, rtol=1e-5)
    np.testing.assert_allclose(f[:, 4], np.diff(t).mean(), rtol=1e-5)
    shuffled = rng.permutation(len(t))
    np.testing.assert_array_equal(rr_features(t[shuffled]), f[shuffled])


def test_a_premature_beat_has_a_short_interval_before_and_a_long_one_after():
    t = np.arange(20, dtype=float) * 0.8
    t[10] -= 0.3  # an early (supraventricular-like) beat
    f = rr_features(t)
    assert f[10, 0] == pytest.approx(0.5) and f[10, 1] == pytest.approx(1.1)
    assert f[10, 2] < 0.5 < f[9, 2]


def test_rr_features_are_per_record_and_refuse_what_has_no_intervals():
    record = np.array(["a", "a", "b", "b", "b"])
    sample = np.array([0, 360, 0, 180, 540])
    f = record_rr_features(record, sample, fs=360)
    np.testing.assert_allclose(f[:2, 0], [1.0, 1.0])
    np.testing.assert_allclose(f[2:, 0], [0.5, 0.5, 1.0])
    with pytest.raises(DataError, match="at least two beats"):
        rr_features(np.array([1.0]))
    with pytest.raises(DataError, match="share an R-peak"):
        rr_features(np.array([1.0, 1.0, 2.0]))


def test_beat_statistics_match_scipy_and_flat_beats_have_no_shape():
    from scipy.stats import kurtosis, skew

    rng = np.random.default_rng(1)
    x = rng.gamma(2.0, size=(5, 187)).astype(np.float32)
    x[4] = 0.25
    s = beat_statistics(x)
    assert s.shape == (5, 4) and s.dtype == np.float32 and np.isfinite(s).all()
    np.testing.assert_allclose(s[:4, 0], x[:4].mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(s[:4, 1], x[:4].std(axis=1), rtol=1e-4)
    sk, ku = skew(x[:4].astype(float), axis=1), kurtosis(x[:4].astype(float), axis=1)
    np.testing.assert_allclose(s[:4, 2], np.sign(sk) * np.log1p(np.abs(sk)), rtol=1e-4)
    np.testing.assert_allclose(s[:4, 3], np.sign(ku) * np.log1p(np.abs(ku)), rtol=1e-4)
    np.testing.assert_allclose(s[4], [0.25, 0.0, 0.0, 0.0], atol=1e-7)


def test_model_inputs_lay_out_waveform_then_statistics_then_rr():
    rng = np.random.default_rng(2)
    x = rng.random((6, 187), dtype=np.float32)
    rr = rng.random((6, 5), dtype=np.float32)
    assert model_inputs(x, InputConfig()) is not x and np.array_equal(model_inputs(x, InputConfig()), x)
    got = model_inputs(x, InputConfig(samples=140, beat_stats=True, rr=True), rr)
    assert got.shape == (6, 140 + 4 + 5) and got.dtype == np.float32
    np.testing.assert_array_equal(got[:, :140], x[:, :140])
    np.testing.assert_array_equal(got[:, 140:144], beat_statistics(x))  # of the whole window, not the cut
    np.testing.assert_array_equal(got[:, 144:], rr)
    with pytest.raises(DataError, match="no R-peak positions.*Kaggle"):
        model_inputs(x, InputConfig(rr=True), None)
    with pytest.raises(DataError, match="first 200 samples.*only 187"):
        model_inputs(x, InputConfig(samples=200))
    with pytest.raises(ValueError, match="at least 32"):
        InputConfig(samples=8)


def test_the_default_input_keeps_every_identity_and_folder_and_an_option_gets_its_own():
    from benchmark.running.plan import grid_directory

    assert DataConfig().as_dict() == {"split": "intra", "subset": None, "task": "aami5"}
    options = InputConfig(samples=140, beat_stats=True, rr=True)
    assert DataConfig(inputs=options).as_dict()["inputs"] == {"samples": 140, "beat_stats": True, "rr": True}
    assert grid_directory(customise(GRIDS["quick"], inputs=InputConfig())) == "quick"
    assert grid_directory(customise(GRIDS["quick"], inputs=InputConfig(rr=True))) == "quick-rr"
    assert grid_directory(customise(GRIDS["quick"], task="binary", inputs=options)) == "quick-binary-first140-stats-rr"


def test_beats_built_from_records_carry_rr_features_through_the_cache_and_the_splits(tiny_db, cache_dir):
    from benchmark.data.splits import load_split

    first = load_split("intra", tiny_db, cache_dir=cache_dir)
    again = load_split("intra", tiny_db, cache_dir=cache_dir)  # from the cache
    assert "(cache)" in again.source
    for part, cached in zip(first.parts().values(), again.parts().values()):
        assert part.rr.shape == (len(part), 5)
        np.testing.assert_array_equal(part.rr, cached.rr)
    test = first.test
    beats = with_inputs(test, InputConfig(rr=True))
    np.testing.assert_array_equal(beats.x[:, 187:], test.rr)
    # the features come from the whole record, whichever part a beat fell in
    whole = np.concatenate([p.rr for p in first.parts().values()])
    records = np.concatenate([p.record for p in first.parts().values()])
    samples = np.concatenate([p.sample for p in first.parts().values()])
    np.testing.assert_allclose(whole, record_rr_features(records, samples, fs=360), rtol=1e-6)


def test_kaggle_beats_cannot_have_rr_features(tmp_path):
    from benchmark.data.splits import read_kaggle_csv

    path = tmp_path / "mitbih_train.csv"
    np.savetxt(path, np.hstack([np.random.default_rng(0).random((4, 187)), np.zeros((4, 1))]), delimiter=",")
    beats = read_kaggle_csv(path)
    assert beats.rr is None
    assert with_inputs(beats, InputConfig(samples=140, beat_stats=True)).x.shape == (4, 144)
    with pytest.raises(DataError, match="no R-peak positions"):
        with_inputs(beats, InputConfig(rr=True))


@pytest.mark.slow  # an end-to-end run through the CLI: .ci/run runs it
def test_rr_grid_runs_through_the_cli_in_its_own_folder_and_evaluate_reproduces_it(tiny_db, tmp_path):
    from benchmark.cli import main
    from benchmark.store import RunStore

    args = ["--grid", "smoke", "--models", "mlp", "cnn", "random_forest", "--resamplers", "none",
            "--steps", "4", "--eval-every", "2", "--truncate", "140", "--beat-stats", "--rr",
            "--data-dir", str(tiny_db), "--cache-dir", str(tmp_path / "c"), "--results-dir", str(tmp_path / "r")]
    assert main(args) == 0
    store, = RunStore(tmp_path / "r").grids("intra")
    assert store.name.startswith("smoke-first140-stats-rr-")
    manifest = store.manifest()
    assert manifest["data"]["inputs"] == {"samples": 140, "beat_stats": True, "rr": True}
    for run_id in manifest["runs"]:
        assert store.metrics(run_id)["identity"]["data"]["inputs"]["rr"] is True
    assert len(manifest["runs"]) == 3
    assert main(["evaluate", *args]) == 0  # the saved models reproduce their runs on rebuilt inputs
    table = (store.path / "evaluations/test.csv").read_text()
    assert table.count(",True") == 3


@pytest.mark.slow  # an end-to-end run through the CLI: .ci/run runs it
def test_a_model_trained_with_rr_features_predicts_a_record_and_refuses_bare_beats(tiny_db, tmp_path):
    from benchmark.cli import main
    from benchmark.serving.bundle import load_bundle
    from benchmark.serving.inputs import read_input

    results = tmp_path / "r"
    assert main(["--grid", "smoke", "--models", "cnn", "--resamplers", "none", "--steps", "4", "--eval-every", "2",
                 "--rr", "--data-dir", str(tiny_db), "--cache-dir", str(tmp_path / "c"),
                 "--results-dir", str(results)]) == 0
    run_dir, = results.glob("intra/*/runs/*")
    assert main(["export", "--run", str(run_dir), "--out", str(tmp_path / "b")]) == 0
    meta = json.loads((tmp_path / "b/bundle.json").read_text())
    assert meta["inputs"]["rr"] is True and meta["inputs"]["features"] == list(RR_FEATURES)
    assert meta["beats"]["input_shape"] == [192, 1]
    bundle = load_bundle(tmp_path / "b")
    beats = read_input(tiny_db / "100")
    assert beats.rr.shape == (len(beats), 5)
    assert bundle.predict_proba(beats.x, beats.rr).shape == (len(beats), 5)
    with pytest.raises(DataError, match="no R-peak positions"):
        bundle.predict_proba(beats.x)
    out = tmp_path / "p.csv"
    assert main(["predict", str(tmp_path / "b"), str(tiny_db / "100"), "--out", str(out)]) == 0
    assert out.read_text().count("\n") == len(beats) + 1


@pytest.mark.slow  # an end-to-end run through the CLI: .ci/run runs it
def test_compare_pairs_two_grids_that_differ_in_their_input_and_refuses_others(tiny_db, tmp_path, capsys):
    import pandas as pd

    from benchmark.cli import main

    common = ["--grid", "smoke", "--split", "inter", "--models", "mlp", "random_forest", "--resamplers", "none",
              "--data-dir", str(tiny_db), "--cache-dir", str(tmp_path / "c"), "--results-dir", str(tmp_path / "r")]
    assert main(common) == 0 and main([*common, "--rr"]) == 0
    assert main([*common, "--steps", "4", "--eval-every", "2"]) == 0  # another budget
    names = sorted(p.name for p in (tmp_path / "r/inter").iterdir() if p.is_dir())
    other_budget = next(n for n in names if n.startswith("smoke-") and n != "smoke-rr")
    assert {"smoke", "smoke-rr"} <= set(names)
    where = ["--split", "inter", "--results-dir", str(tmp_path / "r")]
    assert main(["compare", "smoke", "smoke-rr", *where]) == 0
    text = (tmp_path / "r/inter/COMPARISON-smoke-vs-smoke-rr.md").read_text()
    assert "| mlp " in text and "| random_forest " in text and "Se S" in text and "de Chazal et al. 2004" in text
    assert "the whole window + RR intervals against the whole window" in text
    assert "## Does the whole window + RR intervals change macro F1 (N S V F)?" in text  # inter's primary score
    table = pd.read_csv(tmp_path / "r/inter/COMPARISON-smoke-vs-smoke-rr.csv")
    assert list(table.model) == ["mlp", "random_forest"] and set(table.verdict) <= {"gain", "loss", "no evidence",
                                                                                    "undecided"}
    for r in table.itertuples():  # the difference is the two sides' macro F1 apart
        assert r.difference == pytest.approx(r.other_macro_f1 - r.base_macro_f1, abs=1e-6)
    capsys.readouterr()
    assert main(["compare", "smoke", other_budget, *where]) == 2
    assert "differ in their train" in capsys.readouterr().err
    assert main(["compare", "smoke", "nothing", *where]) == 2
