"""Data manager: the cached beat set and the train / validation / test splits.

Splits (each a named function; the test part never depends on the run's seed, model or resampler):

- ``intra`` (default): stratified beat-level 80/20 train/test split with a fixed split seed — the
  Kaggle protocol. Beats of one patient fall on both sides, so it is optimistic.
- ``inter``: de Chazal et al. 2004 — records of DS1 train, records of DS2 test, the paced records
  102, 104, 107, 217 excluded; validation from whole held-out DS1 records.
- ``inter_ds2``: the inter split's other direction — DS2 records train, DS1 records test. Its models
  never see records 118 and 119 (DS1), the records under nstdb's noise, so it gives a fair
  noise-stress curve.
- ``kaggle``: a user's own ``mitbih_train.csv`` / ``mitbih_test.csv``.

The validation part is always carved out of the training part with a fixed split seed: a stratified
sample of beats on the intra-patient splits, whole held-out records (patients) on the inter-patient ones.
Beats carry their AAMI class in the cache; a split is labelled for one task (``benchmark.tasks``) before
it is cut, so a task's stratification and held-out records follow its own classes.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.data.beats import CLASSES, BeatSet, BuildParams, build_record_beats, concat
from benchmark.errors import DataError
from benchmark.data.records import RecordSource, default_cache_dir, locate_records
from benchmark.logs import progress
from benchmark.files import arrays_digest, load_arrays, save_arrays
from benchmark.tasks import AAMI_SYMBOLS, Task, get_task

log = logging.getLogger(__name__)
SPLIT_SEED = 20180501  # fixed: the test (and validation) part is the same for every run
TEST_FRACTION = 0.2
VAL_FRACTION = 0.1
DS1 = ("101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207 208 209 215 220 223 230").split()
DS2 = ("100 103 105 111 113 117 121 123 200 202 210 212 213 214 219 221 222 228 231 232 233 234").split()
PACED = ("102", "104", "107", "217")
SPLITS = ("intra", "inter", "inter_ds2", "kaggle")
CACHE_FORMAT = 2  # 2: beats carry their RR-interval features


@dataclass
class Split:
    """Train / validation / test parts of one split, and where they came from."""

    name: str
    train: BeatSet
    val: BeatSet
    test: BeatSet
    source: str  # human-readable provenance
    key: str  # digest of the three parts' contents and the task (:func:`contents_key`)
    task: str = "aami5"

    def parts(self) -> dict[str, BeatSet]:
        return {"train": self.train, "validation": self.val, "test": self.test}


# --------------------------------------------------------------------------- beat-set cache

def contents_key(parts, task: str) -> str:
    """Digest of what the parts hold (beats, labels, records and R-peak positions of each, in order) and
    the task: the data key behind every run identity and cached treated part."""
    digest = hashlib.sha256(task.encode())
    for part in parts:
        digest.update(arrays_digest({"x": part.x, "y": part.y, "record": np.asarray(part.record).astype("U8"),
                                     "sample": np.asarray(part.sample, np.int64)}).encode())
    return digest.hexdigest()[:16]


def beat_set_key(source: RecordSource, params: BuildParams) -> str:
    payload = json.dumps({"format": CACHE_FORMAT, "params": params.as_dict(), "records": source.records,
                          "files": source.file_hashes, "labels": AAMI_SYMBOLS}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def build_beats(source: RecordSource, params: BuildParams = BuildParams(), workers: int = 2) -> BeatSet:
    """Build the beat set from every record (records are read in parallel threads)."""
    paths = [source.directory / r for r in source.records]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        parts = list(progress(pool.map(lambda p: build_record_beats(p, params), paths), total=len(paths),
                              desc="building beats", unit="record"))
    return concat(parts)


def load_beats(source: RecordSource, params: BuildParams = BuildParams(),
               cache_dir: Path | None = None) -> tuple[BeatSet, str, bool]:
    """The beat set, from the cache when a valid entry exists; returns (beats, key, from_cache)."""
    key = beat_set_key(source, params)
    path = Path(cache_dir or default_cache_dir()) / "beats" / f"beats-{key}.npz"
    arrays = load_arrays(path)
    if arrays is not None:
        return BeatSet(arrays["x"], arrays["y"], arrays["record"], arrays["sample"], arrays["rr"]), key, True
    if path.exists():
        log.warning("%s: cache entry is corrupt; rebuilding it", path)
    log.info("building beats from %d records in %s ...", len(source.records), source.directory)
    start = time.perf_counter()
    beats = build_beats(source, params)
    log.info("built %d beats in %.1f s", len(beats), time.perf_counter() - start)
    save_arrays(path, {"x": beats.x, "y": beats.y, "record": beats.record.astype("U8"),
                       "sample": beats.sample, "rr": beats.rr})
    return beats, key, False


# --------------------------------------------------------------------------- splits

def stratified_indices(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices of ``y`` into (rest, held) with ``fraction`` of every class held out."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(y))
    rest, held = train_test_split(index, test_size=fraction, stratify=y, random_state=seed)
    return np.sort(rest), np.sort(held)


def carve_validation(train: BeatSet, fraction: float = VAL_FRACTION, seed: int = SPLIT_SEED):
    rest, val = stratified_indices(train.y, fraction, seed)
    return train.take(rest), train.take(val)


def intra_patient_split(beats: BeatSet, test_fraction: float = TEST_FRACTION,
                        val_fraction: float = VAL_FRACTION, seed: int = SPLIT_SEED):
    """Kaggle protocol: stratified beat-level train/test split, then validation from train."""
    train_idx, test_idx = stratified_indices(beats.y, test_fraction, seed)
    train, val = carve_validation(beats.take(train_idx), val_fraction, seed)
    return train, val, beats.take(test_idx)


def hold_out_records(train: BeatSet, fraction: float = VAL_FRACTION * 2, seed: int = SPLIT_SEED,
                     keep: float = 2 / 3, task: Task = get_task("aami5")) -> tuple[BeatSet, BeatSet] | None:
    """Validation from whole held-out records (patients): the first seeded draw of ``fraction`` of the
    records whose validation part has every class the literature reports (the task's ``reported``: N, S,
    V, F for aami5) that the training records have, while the training part keeps at least ``keep`` of
    each; None when no draw does (too few records)."""
    records = np.array(sorted(set(train.record.tolist())))
    n_val = int(round(fraction * len(records)))
    if n_val < 1 or len(records) - n_val < 1:
        return None
    counts = np.stack([np.bincount(train.y[train.record == r], minlength=task.n_classes) for r in records])
    total = counts.sum(axis=0)
    needed = [task.classes.index(c) for c in task.reported if total[task.classes.index(c)] > 0]
    rng = np.random.default_rng(seed)
    for _ in range(10_000):
        pick = np.sort(rng.choice(len(records), n_val, replace=False))
        held = counts[pick].sum(axis=0)
        if all(held[c] > 0 and total[c] - held[c] >= keep * total[c] for c in needed):
            in_val = np.isin(train.record, records[pick])
            return train.take(~in_val), train.take(in_val)
    return None


def inter_patient_split(beats: BeatSet, val_fraction: float = VAL_FRACTION, seed: int = SPLIT_SEED,
                        train_records=DS1, test_records=DS2, task: Task = get_task("aami5")):
    """de Chazal et al. 2004: DS1 records train, DS2 records test, paced records excluded.

    Validation comes from whole held-out training records (:func:`hold_out_records`), so early stopping
    and the checkpoint are chosen on patients the model has not trained on, as the test asks of it. With
    too few records for that (tiny test databases), a stratified beat-level sample, and a warning.
    """
    in_train, in_test = np.isin(beats.record, train_records), np.isin(beats.record, test_records)
    if not in_train.any() or not in_test.any():
        raise DataError(f"inter split needs records of both DS1 and DS2; the beat set has records "
                        f"{sorted(set(beats.record))}")
    train = beats.take(in_train)
    held = hold_out_records(train, 2 * val_fraction, seed, task=task)
    if held is None:
        log.warning("too few training records (%d) to hold whole ones out for validation; validating on a "
                    "stratified sample of their beats", len(set(train.record.tolist())))
        held = carve_validation(train, val_fraction, seed)
    return (*held, beats.take(in_test))


def read_kaggle_csv(path: Path) -> BeatSet:
    """Read a Kaggle beat CSV (188 columns, no header, class 0..4 last) with strict checks."""
    import pandas as pd

    if not path.exists():
        raise DataError(f"{path}: file not found")

    def rows():  # (row number, values as text) of the file's non-blank lines, read only to explain an error
        with path.open(errors="replace") as lines:
            yield from ((i, line.strip().split(",")) for i, line in enumerate(lines, 1) if line.strip())

    def check_row_lengths():  # pandas pads a short row with NaN and stops at a long one: name the row
        for i, fields in rows():
            if len(fields) != 188:
                raise DataError(f"{path}: row {i} has {len(fields)} values, expected 188 (187 samples and the "
                                "class); fix or remove that row")

    def is_number(text: str) -> bool:
        try:
            float(text)
        except ValueError:
            return False
        return True

    first_row, first = next(rows(), (1, []))
    words = [f for f in first if f.strip() and not is_number(f)]
    if words or (len(first) > 1 and first == [str(i) for i in range(len(first))]):
        what = (f"non-numeric values {', '.join(repr(w) for w in words[:3])}{', ...' if len(words) > 3 else ''}"
                if words else f"its values are the column numbers 0..{len(first) - 1}")
        raise DataError(f"{path}: row {first_row} looks like a header ({what}); the Kaggle CSVs have no header row, "
                        "so remove it")
    try:
        frame = pd.read_csv(path, header=None, dtype=np.float64)
    except Exception as exc:
        check_row_lengths()
        raise DataError(f"{path}: not a numeric CSV ({exc})") from exc
    values = frame.to_numpy()
    if values.ndim != 2 or values.shape[1] != 188:
        raise DataError(f"{path}: expected 188 columns (187 samples and the class), got "
                        f"{values.shape[1] if values.ndim == 2 else 0}")
    bad = ~np.isfinite(values)
    if bad.any():
        check_row_lengths()
        row, col = np.argwhere(bad)[0]
        raise DataError(f"{path}: NaN or infinite value at row {row + 1}, column {col + 1}")
    labels = values[:, -1]
    invalid = (labels != np.round(labels)) | (labels < 0) | (labels > len(CLASSES) - 1)
    if invalid.any():
        row = int(np.flatnonzero(invalid)[0])
        raise DataError(f"{path}: label {labels[row]:g} at row {row + 1} is outside 0..4")
    n = len(values)
    return BeatSet(values[:, :-1].astype(np.float32), labels.astype(np.int8),
                   np.full(n, path.name), np.arange(n, dtype=np.int64))


def kaggle_split(kaggle_dir: Path, val_fraction: float = VAL_FRACTION, seed: int = SPLIT_SEED,
                 task: Task = get_task("aami5")):
    """The user's own Kaggle CSVs: their train file (validation carved from it) and test file."""
    train = relabelled(read_kaggle_csv(kaggle_dir / "mitbih_train.csv"), task)
    test = relabelled(read_kaggle_csv(kaggle_dir / "mitbih_test.csv"), task)
    train, val = carve_validation(train, val_fraction, seed)
    return train, val, test


def relabelled(beats: BeatSet, task: Task) -> BeatSet:
    """The beats labelled with ``task``'s classes instead of their AAMI class."""
    return BeatSet(beats.x, task.relabel(beats.y), beats.record, beats.sample, beats.rr)


def load_split(name: str = "intra", data_dir=None, kaggle_dir=None, cache_dir: Path | None = None,
               refresh: bool = False, params: BuildParams = BuildParams(), task: str = "aami5") -> Split:
    """The named split, built from the records (or the Kaggle CSVs) and cached, labelled for ``task``."""
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; known splits: {', '.join(SPLITS)}")
    labels = get_task(task)
    if name == "kaggle":
        if kaggle_dir is None:
            raise DataError("the kaggle split needs --kaggle-dir DIR holding mitbih_train.csv and mitbih_test.csv")
        kaggle_dir = Path(kaggle_dir)
        train, val, test = kaggle_split(kaggle_dir, task=labels)
        return Split(name, train, val, test, f"Kaggle CSVs in {kaggle_dir}", contents_key((train, val, test), task),
                     task)
    source = locate_records(data_dir, cache_dir, refresh)
    beats, key, cached = load_beats(source, params, cache_dir)
    beats = relabelled(beats, labels)
    if name == "intra":
        train, val, test = intra_patient_split(beats)
    elif name == "inter":
        train, val, test = inter_patient_split(beats, task=labels)
    else:  # inter_ds2: the other direction
        train, val, test = inter_patient_split(beats, train_records=DS2, test_records=DS1, task=labels)
    where = "cache" if cached else "built now"
    return Split(name, train, val, test, f"{source.describe()}; beat set {key} ({where})",
                 contents_key((train, val, test), task), task)


def stratified_subset(beats: BeatSet, size: int, seed: int, min_per_class: int = 30) -> BeatSet:
    """About ``size`` beats keeping class proportions, with at least ``min_per_class`` of each class
    present (so SMOTE/ADASYN neighbours exist in small grids)."""
    rng = np.random.default_rng(seed)
    frac = min(1.0, size / max(1, len(beats)))
    chosen = []
    for c in np.unique(beats.y):
        members = np.flatnonzero(beats.y == c)
        k = min(len(members), max(int(round(frac * len(members))), min_per_class))
        chosen.append(rng.choice(members, size=k, replace=False))
    return beats.take(np.sort(np.concatenate(chosen)))


def histogram_table(split: Split) -> str:
    """Class histogram of train / validation / test as a Markdown table, in the split's task's classes."""
    from tabulate import tabulate

    classes = get_task(split.task).classes
    rows = []
    for part, beats in split.parts().items():
        rows.append([part, *np.bincount(beats.y, minlength=len(classes)).tolist(), len(beats)])
    return tabulate(rows, headers=["part", *classes, "total"], tablefmt="github", intfmt=",")
