"""External test sets: svdb (another database, 128 Hz, ``S`` labels) and nstdb (noise at known SNRs),
built by mitdb's procedure, fetched and verified like mitdb, and scored by saved models without training."""
import numpy as np
import pytest

from benchmark.data.external import in_noise, snr_of
from benchmark.external import load_external
from benchmark.errors import DataError
from benchmark.reporting.analysis import primary_score
from tests.conftest import FS, synthetic_ecg, write_database, write_record


def test_nstdb_record_names_give_their_snr():
    assert [snr_of(r) for r in ("118e24", "118e18", "119e12", "119e06", "118e00", "119e_6")] == [24, 18, 12, 6, 0, -6]
    with pytest.raises(DataError, match="bw: not an nstdb noise-stress record"):
        snr_of("bw")


@pytest.mark.slow  # ~15 s: .ci/run runs it
def test_noisy_segments_are_where_the_noise_is_at_its_snr(tmp_path):
    import wfdb

    n_beats = 880  # 11 minutes: clean for 5, noise 5–7, clean 7–9, noise 9–11
    write_record(tmp_path, "118e06", n_beats=n_beats, seed=4, extra_ann=False, noise_snr=6)
    recorded = wfdb.rdrecord(str(tmp_path / "118e06"), channels=[0]).p_signal[:, 0]
    rng = np.random.default_rng(4)
    peaks = 100 + 270 * np.arange(n_beats)
    clean = synthetic_ecg(len(recorded), peaks, rng)
    residual = recorded - clean
    mask = in_noise(np.arange(len(recorded)), FS)
    assert mask[:300 * FS].sum() == 0 and mask[300 * FS:420 * FS].all() and not mask[420 * FS:540 * FS].any()
    snr = 10 * np.log10(np.mean(clean ** 2) / np.mean(residual[mask] ** 2))
    assert snr == pytest.approx(6, abs=0.3)
    assert np.sqrt(np.mean(residual[~mask] ** 2)) < 0.01, "outside the segments only the 12-bit rounding remains"


def test_svdb_beats_are_built_at_128_hz_with_s_labels_as_aami_s(tmp_path):
    directory = write_database(tmp_path / "svdb", records=("800", "801"), fs=128, s_symbol="S")
    beats, source = load_external("svdb", directory, cache_dir=tmp_path / "cache")
    expected = {"N": 0, "S": 0, "V": 0, "F": 0, "Q": 0}
    for i in range(2):
        for k, v in write_record(tmp_path, "again", seed=i, fs=128, s_symbol="S").items():
            expected[k] += v
    counts = beats.class_counts()
    assert counts[1] > 0 and counts[1] <= expected["S"] and counts.sum() >= sum(expected.values()) - 4
    assert beats.x.shape[1] == 187 and set(beats.record) == {"800", "801"}
    assert "2 svdb records" in source and "checked against SHA256SUMS.txt" in source


def test_a_missing_or_corrupt_external_file_is_named(tmp_path):
    directory = write_database(tmp_path / "svdb", records=("800", "801"), fs=128, s_symbol="S")
    (directory / "801.atr").write_bytes(b"corrupt")
    with pytest.raises(DataError, match=r"801\.atr: checksum mismatch"):
        load_external("svdb", directory, cache_dir=tmp_path / "cache")
    (directory / "801.atr").unlink()
    with pytest.raises(DataError, match=r"801\.atr: missing file"):
        load_external("svdb", directory, cache_dir=tmp_path / "cache")


def test_nstdb_uses_only_its_annotated_records(tmp_path):
    directory = write_database(tmp_path / "nstdb", records=("118e24", "118e_6"))
    with open(directory / "RECORDS", "a") as f:
        f.write("bw\nem\nma\n")  # noise alone: no beats, no .atr
    beats, _ = load_external("nstdb", directory, cache_dir=tmp_path / "cache")
    assert set(beats.record) == {"118e24", "118e_6"}


@pytest.mark.slow  # ~40 s: .ci/run runs it deliberately
def test_evaluate_scores_saved_models_on_svdb_and_nstdb_without_training(tmp_path, capsys):
    from benchmark.cli import main
    from benchmark.store import RunStore

    mitdb = write_database(tmp_path / "mitdb", records=("100", "118"))  # 100 in DS2, 118 in DS1

    svdb = write_database(tmp_path / "svdb", records=("800",), fs=128, s_symbol="S")
    nstdb = tmp_path / "nstdb"
    nstdb.mkdir()
    for record, snr in (("118e24", 24), ("118e_6", -6)):  # 11 minutes each: two noisy segments
        write_record(nstdb, record, n_beats=880, seed=7, extra_ann=False, noise_snr=snr)
    (nstdb / "RECORDS").write_text("118e24\n118e_6\nbw\n")
    common = ["--grid", "smoke", "--models", "mlp", "--resamplers", "none", "random", "--steps", "4", "--eval-every", "2",
              "--data-dir", str(mitdb), "--cache-dir", str(tmp_path / "c"), "--results-dir", str(tmp_path / "r")]
    fair = [*common, "--split", "inter_ds2"]  # trains on DS2: never sees 118 and 119
    assert main(fair) == 0
    assert main(["evaluate", *fair, "--on", "svdb", "--svdb-dir", str(svdb)]) == 0
    assert main(["evaluate", *fair, "--on", "nstdb", "--nstdb-dir", str(nstdb)]) == 0
    assert main(["evaluate", *fair]) == 0
    store, = RunStore(tmp_path / "r").grids("inter_ds2")
    none_run, random_run = store.manifest()["runs"]
    for test_set, records in (("svdb", {"800"}), ("nstdb", {"118e24", "118e_6"})):
        labels, beat_records, samples, predictions = store.evaluation(test_set)
        assert set(beat_records) == records and len(labels) == len(samples) == len(predictions[none_run])
        assert store.evaluation_path(test_set).read_text().count("\n") == 3
    # prior correction: only the run trained under another prior than the data's
    assert set(store.evaluation("test_prior_corrected")[3]) == {random_run}
    assert main(["report", "--results-dir", str(tmp_path / "r")]) == 0
    report = store.file("REPORT.md").read_text()
    assert "## Prior correction: resampling or a moved threshold?" in report and "## External test: svdb" in report
    assert "macro F1 (N)" in report, "svdb's classes with fewer than 30 beats are left out of its macro F1"
    assert "## Noise stress: nstdb" in report and "![macro F1 over SNR](figures/noise_curves.png)" in report
    assert "| -6 dB" in report and "robustness" in report
    overview = (tmp_path / "r/README.md").read_text()  # in-distribution, external and noisy side by side
    assert "inter_ds2/smoke-" in overview and " → svdb macro F1 " in overview and " → nstdb -6 dB macro F1 " in overview
    # an intra grid trained on 118: its noise curve would score a patient it has seen
    assert main(common) == 0
    capsys.readouterr()
    assert main(["evaluate", *common, "--on", "nstdb", "--nstdb-dir", str(nstdb)]) == 2
    assert "trained on mitdb record(s) 118," in capsys.readouterr().err
    intra_report, = (tmp_path / "r/intra").glob("*/REPORT.md")  # and its report says why it has no curve
    assert "## Noise stress: nstdb\n\nNot scored: this grid's models trained on mitdb record(s) 118," in \
        intra_report.read_text()


def test_prior_correction_moves_decisions_back_to_the_data_prior():
    from benchmark.metrics.priors import prior_corrected, training_prior

    p = np.array([[0.6, 0.4, 0, 0, 0], [0.9, 0.1, 0, 0, 0]])
    balanced = np.array([0.5, 0.5, 0, 0, 0])
    skewed = np.array([0.2, 0.8, 0, 0, 0])
    assert prior_corrected(p, balanced, balanced).tolist() == [0, 0], "the same prior changes nothing"
    assert prior_corrected(p, balanced, skewed).tolist() == [1, 0]  # 0.6·0.4 < 0.4·1.6; 0.9·0.4 > 0.1·1.6
    counts = {"N": 90, "S": 10, "V": 0, "F": 0, "Q": 0}
    classes = tuple(counts)

    def recorded_before_priors_were_kept(resampler):
        return training_prior({"resampler": resampler, "seed": 0, "resampling": {"train_class_counts": counts}},
                              classes)
    assert recorded_before_priors_were_kept("none").tolist() == [0.9, 0.1, 0, 0, 0], "the data's own prior"
    assert recorded_before_priors_were_kept("random").tolist() == [0.9, 0.1, 0, 0, 0]
    assert np.allclose(recorded_before_priors_were_kept("class_weight"), [0.5, 0.5, 0, 0, 0], atol=1e-6)
    recorded = {"N": 0.25, "S": 0.75, "V": 0.0, "F": 0.0, "Q": 0.0}
    assert training_prior({"resampler": "random", "seed": 0, "resampling": {"train_class_counts": counts,
                                                                            "trained_prior": recorded}},
                          classes).tolist() == [0.25, 0.75, 0, 0, 0], "a run's recorded prior is the one used"


def test_prior_correction_adjusts_each_decision_over_the_same_comparisons():
    """#39: the as-trained and prior-corrected verdicts are Holm-adjusted in two families of the same
    comparisons, not one family of both (which made them unlike the other verdicts)."""
    from types import SimpleNamespace

    import pandas as pd

    from benchmark.metrics.stats import holm
    from benchmark.reporting.shifts import prior_correction
    from benchmark.tasks import get_task

    rng = np.random.default_rng(3)
    y = rng.choice(5, 400, p=[0.6, 0.1, 0.1, 0.1, 0.1])
    records = np.array([f"{100 + i % 10}" for i in range(400)])
    runs, raw, corrected = [], {}, {}
    for model in ("mlp", "cnn"):
        for resampler in ("none", "random", "smote"):
            run_id = f"{model}__{resampler}"
            noise = {"none": 0.2, "random": 0.5, "smote": 0.35}[resampler]
            raw[run_id] = np.where(rng.random(400) < noise, rng.integers(0, 5, 400), y)
            corrected[run_id] = np.where(rng.random(400) < 0.2, rng.integers(0, 5, 400), y)
            runs.append({"model": model, "resampler": resampler, "seed": 0, "run_id": run_id})
    g = SimpleNamespace(task=get_task("aami5"), runs=pd.DataFrame(runs), predictions=raw, boot_seed=0,
                        score=primary_score("intra", get_task("aami5")))
    p = prior_correction(g, (y, records, None, {k: v for k, v in corrected.items() if "none" not in k}))
    assert sorted(p.tests.decision.value_counts().to_dict().items()) == [("as trained", 4), ("prior-corrected", 4)]
    for decision in ("as trained", "prior-corrected"):
        family = p.tests[p.tests.decision == decision]
        assert np.allclose(family.p_holm, holm(family.p_value.to_numpy())), decision  # adjusted within itself
    assert not np.allclose(p.tests.p_holm, holm(p.tests.p_value.to_numpy()))  # not as one family of 8
