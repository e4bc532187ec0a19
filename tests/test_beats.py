"""Beat segmentation: window length, scaling, padding, AAMI labels, bad records."""
import numpy as np
import pytest

from benchmark.data.beats import AAMI, BuildParams, build_record_beats, segment_record
from benchmark.errors import DataError
from tests.conftest import write_database, write_record


def test_aami_mapping_covers_the_ec57_symbols():
    expected = {"N": 0, "L": 0, "R": 0, "e": 0, "j": 0, "A": 1, "a": 1, "J": 1, "S": 1,
                "V": 2, "E": 2, "F": 3, "/": 4, "f": 4, "Q": 4}
    assert AAMI == expected


def test_segment_window_is_1_2_median_rr_from_the_peak():
    fs, rr = 360.0, 360  # 1 s between beats -> 125 samples at 125 Hz -> window 150
    peaks = np.arange(200, 360 * 30, rr)
    t = np.arange(360 * 31)
    sig = sum(np.exp(-0.5 * ((t - p) / 3.0) ** 2) for p in peaks)
    symbols = np.array(["N"] * len(peaks))
    x, y, pos = segment_record(sig, fs, peaks, symbols, BuildParams())
    assert x.shape == (len(peaks), 187) and x.dtype == np.float32
    assert np.all(y == 0) and np.array_equal(pos, peaks)
    assert np.all(x[:, 150:] == 0), "zero-padded after 1.2 x 125 samples"
    assert np.all(x[:, :150].max(axis=1) == 1.0) and np.all(x[:, :150].min(axis=1) == 0.0)
    assert np.all(x[:, 0] > 0.9), "window starts at the R peak"


def test_non_beat_annotations_are_ignored_and_a_beat_past_the_end_is_dropped():
    fs = 360.0
    peaks = np.array([100, 460, 820, 1180, 1520])
    sig = np.sin(np.arange(1700) / 7.0)
    symbols = np.array(["N", "+", "V", "N", "A"])
    x, y, pos = segment_record(sig, fs, peaks, symbols, BuildParams())
    # '+' is not a beat; the last beat's window (1.2 x ~360 samples) runs past the end
    assert pos.tolist() == [100, 820, 1180] and y.tolist() == [0, 2, 0]


def test_window_normalisation_scales_the_10s_window():
    fs, peaks = 360.0, np.arange(200, 360 * 12, 360)
    t = np.arange(360 * 13)
    amp = np.where(np.arange(len(peaks)) == 3, 2.0, 1.0)  # one tall beat in the first window
    sig = sum(a * np.exp(-0.5 * ((t - p) / 3.0) ** 2) for a, p in zip(amp, peaks))
    x, _, _ = segment_record(sig, fs, peaks, np.array(["N"] * len(peaks)), BuildParams(normalise="window"))
    assert x[3].max() == pytest.approx(1.0) and x[0].max() == pytest.approx(0.5, abs=0.02)


def test_record_beats_match_the_annotations(tmp_path):
    expected = write_record(tmp_path, "100", n_beats=80)
    beats = build_record_beats(tmp_path / "100", BuildParams())
    counts = dict(zip("NSVFQ", beats.class_counts().tolist()))
    # the last beat is dropped only if its window runs past the end (the record has 2 R-R of tail)
    assert counts == expected
    assert set(beats.record) == {"100"} and beats.x.shape == (80, 187)


def test_record_without_usable_beats_is_named(tmp_path):
    import wfdb

    write_record(tmp_path, "100")
    wfdb.wrann("100", "atr", sample=np.array([10, 20]), symbol=["+", "~"], write_dir=str(tmp_path))
    with pytest.raises(DataError, match=r"100\.atr: no usable beats"):
        build_record_beats(tmp_path / "100", BuildParams())


def test_truncated_signal_file_is_named(tmp_path):
    write_database(tmp_path, records=("100",), manifest=None)
    dat = tmp_path / "100.dat"
    dat.write_bytes(dat.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"100\.dat: truncated signal file"):
        build_record_beats(tmp_path / "100", BuildParams())


def test_unreadable_header_is_named(tmp_path):
    write_database(tmp_path, records=("100",), manifest=None)
    (tmp_path / "100.hea").write_text("this is not a header\n")
    with pytest.raises(DataError, match=r"100\.hea: unreadable header"):
        build_record_beats(tmp_path / "100", BuildParams())


def test_unreadable_annotation_file_is_named(tmp_path):
    write_database(tmp_path, records=("100",), manifest=None)
    (tmp_path / "100.atr").write_bytes(b"\xff\xfe garbage")
    # wfdb reads some garbage as an empty annotation list; either way the file is named
    with pytest.raises(DataError, match=r"100\.atr: (unreadable annotation file|no usable beats)"):
        build_record_beats(tmp_path / "100", BuildParams())
