"""Beat-set cache, splits, Kaggle CSVs, and the published-count check on the real records."""
import numpy as np
import pytest

from benchmark.data.beats import BuildParams
from benchmark.data.splits import (DS1, DS2, PACED, inter_patient_split, intra_patient_split, load_beats, load_split,
                            read_kaggle_csv, stratified_subset)
from benchmark.errors import DataError
from benchmark.data.records import verify_records
from tests.conftest import REAL_MITDB, clustered_beats


def ids(beats):
    return set(zip(beats.record.tolist(), beats.sample.tolist()))


def test_cache_round_trip_and_rebuild_on_changed_parameters(tiny_db, cache_dir):
    source = verify_records(tiny_db)
    built, key, cached = load_beats(source, cache_dir=cache_dir)
    again, key2, cached2 = load_beats(source, cache_dir=cache_dir)
    assert not cached and cached2 and key == key2
    assert np.array_equal(built.x, again.x) and np.array_equal(built.y, again.y)
    assert again.x.dtype == np.float32
    other, key3, cached3 = load_beats(source, BuildParams(rr_factor=1.0), cache_dir=cache_dir)
    assert key3 != key and not cached3


def test_changed_input_file_changes_the_cache_key(tiny_db, cache_dir):
    _, key, _ = load_beats(verify_records(tiny_db), cache_dir=cache_dir)
    (tiny_db / "SHA256SUMS.txt").unlink()
    from tests.conftest import write_record
    write_record(tiny_db, "101", seed=99)  # different signal, same name
    _, key2, cached = load_beats(verify_records(tiny_db), cache_dir=cache_dir)
    assert key2 != key and not cached


def test_corrupt_cache_is_detected_and_rebuilt(tiny_db, cache_dir, messages):
    source = verify_records(tiny_db)
    built, key, _ = load_beats(source, cache_dir=cache_dir)
    path = cache_dir / "beats" / f"beats-{key}.npz"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # flip one byte in the middle of the arrays
    path.write_bytes(bytes(raw))
    rebuilt, _, cached = load_beats(source, cache_dir=cache_dir)
    assert not cached and np.array_equal(rebuilt.x, built.x)
    assert any("corrupt" in m for m in messages)
    path.write_bytes(b"truncated")
    assert not load_beats(source, cache_dir=cache_dir)[2]


def test_unwritable_cache_directory_is_named(tiny_db, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    with pytest.raises(DataError, match=r"not-a-dir/beats: cache directory is not writable"):
        load_beats(verify_records(tiny_db), cache_dir=blocker)


def test_intra_split_is_stratified_disjoint_and_fixed():
    beats = clustered_beats(n_per_class=(1000, 100, 200, 50, 150))
    train, val, test = intra_patient_split(beats)
    assert len(test) == 300 and len(train) + len(val) == 1200
    assert not ids(train) & ids(test) and not ids(val) & ids(test) and not ids(train) & ids(val)
    assert np.array_equal(test.class_counts(), [200, 20, 40, 10, 30])
    assert np.array_equal(val.class_counts(), [80, 8, 16, 4, 12])
    _, _, test2 = intra_patient_split(beats)
    assert ids(test2) == ids(test)


def test_inter_split_follows_de_chazal(tiny_db, cache_dir):
    split = load_split("inter", tiny_db, cache_dir=cache_dir)
    assert set(split.train.record) | set(split.val.record) <= set(DS1)
    assert set(split.test.record) <= set(DS2)
    assert not set(PACED) & (set(split.train.record) | set(split.test.record))
    assert split.test.record.tolist().count("100") == len(split.test)


def test_inter_split_needs_both_record_sets():
    beats = clustered_beats()
    with pytest.raises(DataError, match="needs records of both DS1 and DS2"):
        inter_patient_split(beats)


def test_subset_keeps_every_class():
    beats = clustered_beats(n_per_class=(3000, 40, 200, 35, 150))
    sub = stratified_subset(beats, 300, seed=1)
    counts = sub.class_counts()
    assert counts[0] == round(3000 * 300 / 3425) and counts[1] == 30 and counts[3] == 30 and 250 < len(sub) < 400


def _write_csv(path, rows):
    np.savetxt(path, rows, delimiter=",", fmt="%.6e")
    return path


def test_kaggle_csv_reads_beats_and_labels(tmp_path):
    rows = np.hstack([np.random.default_rng(0).random((10, 187)), np.arange(10)[:, None] % 5])
    beats = read_kaggle_csv(_write_csv(tmp_path / "mitbih_train.csv", rows))
    assert beats.x.shape == (10, 187) and beats.x.dtype == np.float32
    assert beats.y.tolist() == [0, 1, 2, 3, 4] * 2


@pytest.mark.parametrize("problem, match", [
    ("columns", r"mitbih_test\.csv: expected 188 columns .* got 187"),
    ("nan", r"mitbih_test\.csv: NaN or infinite value at row 3, column 5"),
    ("inf", r"mitbih_test\.csv: NaN or infinite value at row 3, column 5"),
    ("label", r"mitbih_test\.csv: label 7 at row 2 is outside 0\.\.4"),
    ("fraction", r"mitbih_test\.csv: label 1\.5 at row 2 is outside 0\.\.4"),
])
def test_bad_kaggle_csv_is_named(tmp_path, problem, match):
    rows = np.hstack([np.random.default_rng(0).random((5, 187)), np.zeros((5, 1))])
    if problem == "columns":
        rows = rows[:, 1:]
    elif problem in ("nan", "inf"):
        rows[2, 4] = np.nan if problem == "nan" else np.inf
    else:
        rows[1, -1] = 7 if problem == "label" else 1.5
    with pytest.raises(DataError, match=match):
        read_kaggle_csv(_write_csv(tmp_path / "mitbih_test.csv", rows))


@pytest.mark.parametrize("problem, match", [
    ("short", r"mitbih_test\.csv: row 3 has 150 values, expected 188 \(187 samples and the class\)"),
    ("short_first", r"mitbih_test\.csv: row 1 has 150 values, expected 188 \(187 samples and the class\)"),
    ("long", r"mitbih_test\.csv: row 4 has 190 values, expected 188 \(187 samples and the class\)"),
    ("named_header", r"mitbih_test\.csv: row 1 looks like a header \(non-numeric values 'c0', 'c1', 'c2', \.\.\.\); "
                     r"the Kaggle CSVs have no header row"),
    ("numbered_header", r"mitbih_test\.csv: row 1 looks like a header \(its values are the column numbers "
                        r"0\.\.187\); the Kaggle CSVs have no header row"),
])
def test_a_short_row_or_a_header_row_is_named_as_such(tmp_path, problem, match):
    rows = np.hstack([np.random.default_rng(0).random((5, 187)), np.zeros((5, 1))])
    lines = [",".join(f"{v:.6e}" for v in row) for row in rows]
    if problem == "short":
        lines[2] = ",".join(lines[2].split(",")[:150])
    elif problem == "short_first":
        lines[0] = ",".join(lines[0].split(",")[:150])
    elif problem == "long":
        lines[3] += ",0,0"
    elif problem == "named_header":
        lines.insert(0, ",".join([f"c{i}" for i in range(187)] + ["label"]))
    else:  # pandas' to_csv with its default header and no index writes this
        lines.insert(0, ",".join(str(i) for i in range(188)))
    path = tmp_path / "mitbih_test.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=match):
        read_kaggle_csv(path)


def test_kaggle_split_uses_the_users_files(tmp_path, cache_dir):
    rng = np.random.default_rng(0)
    for name, n in (("mitbih_train.csv", 200), ("mitbih_test.csv", 50)):
        _write_csv(tmp_path / name, np.hstack([rng.random((n, 187)), (np.arange(n) % 5)[:, None]]))
    split = load_split("kaggle", kaggle_dir=tmp_path, cache_dir=cache_dir)
    assert len(split.test) == 50 and len(split.train) + len(split.val) == 200 and len(split.val) == 20


@pytest.mark.slow  # the fast suite stays under its 5-minute budget; .ci/run runs it
@pytest.mark.real_data
@pytest.mark.skipif(not (REAL_MITDB / "100.dat").exists(), reason=f"no real records at {REAL_MITDB}")
def test_real_records_match_the_published_beat_counts(cache_dir):
    kaggle = np.array([90_589, 2_779, 7_236, 803, 8_039])  # N S V F Q of the Kaggle beat set
    split = load_split("intra", REAL_MITDB, cache_dir=cache_dir)
    counts = sum(p.class_counts() for p in (split.train, split.val, split.test))
    assert np.all(np.abs(counts - kaggle) <= 0.005 * kaggle), counts
    assert len(split.test) == pytest.approx(0.2 * counts.sum(), abs=5)
    inter = load_split("inter", REAL_MITDB, cache_dir=cache_dir)
    assert set(inter.test.record) == set(DS2) and set(inter.train.record) | set(inter.val.record) == set(DS1)
    assert not set(inter.train.record) & set(inter.val.record), "validation patients are held out whole"
    assert len(set(inter.val.record)) == 4 and inter.val.class_counts()[:4].min() > 0


def test_inter_validation_holds_out_whole_training_records():
    from benchmark.data.splits import hold_out_records
    from tests.conftest import clustered_beats

    beats = clustered_beats(n_per_class=(300, 40, 60, 20, 40), seed=3)
    beats = beats.take(np.arange(len(beats)))
    beats.record[:] = np.array([f"r{i % 10}" for i in range(len(beats))])  # 10 patients, every class in each
    train, val = hold_out_records(beats, fraction=0.2, seed=1)
    assert set(train.record) & set(val.record) == set(), "no patient on both sides"
    assert len(set(val.record)) == 2 and len(train) + len(val) == len(beats)
    assert all(np.bincount(part.y, minlength=5)[:4].min() > 0 for part in (train, val))
    assert hold_out_records(beats.take(beats.record == "r0"), fraction=0.2, seed=1) is None, "one record: none"
    # a class in one record only can never be on both sides: no draw qualifies
    only = beats.take(~((beats.y == 3) & (beats.record != "r0")))
    assert hold_out_records(only, fraction=0.2, seed=1) is None


def test_inter_split_of_a_tiny_database_falls_back_to_beats_and_says_so(tiny_db, cache_dir, messages):
    split = load_split("inter", tiny_db, cache_dir=cache_dir)
    assert set(split.train.record) == set(split.val.record) == {"101"}
    assert any("too few training records" in m for m in messages)
