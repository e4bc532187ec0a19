"""The beats of test sets beyond MIT-BIH's own split (the registry of them is ``benchmark.external``): the
external ``svdb`` and the noise-stress ``nstdb``.

Their beats are built by the same procedure as mitdb's (``benchmark.data.beats``): the first channel
(svdb: ECG1, the lead the database lists first; nstdb: MLII, as mitdb's), resampled to 125 Hz
(svdb is recorded at 128 Hz, nstdb at 360 Hz), windows of 1.2 local R-R intervals, labels mapped to
AAMI classes (svdb writes ``S`` where mitdb writes ``A``; both map to S).

nstdb holds mitdb records 118 and 119 with electrode-motion noise added at one signal-to-noise ratio per
record (``118e24`` … ``119e_6``: 24, 18, 12, 6, 0 and −6 dB). The first 5 minutes are clean; after that
the noise is on in alternating 2-minute segments, and the reference annotations are the same at every
SNR. :func:`snr_of` and :func:`in_noise` say, for each beat, at which SNR and whether in a noisy segment.
"""
from __future__ import annotations

import re

import numpy as np

from benchmark.data.beats import BeatSet, BuildParams
from benchmark.errors import DataError

NSTDB_BASE_RECORDS = ("118", "119")  # the mitdb records under the noise: a fair curve needs models that never saw them
NSTDB_FS = 360
CLEAN_SECONDS = 300  # the first 5 minutes of every nstdb record are clean
SEGMENT_SECONDS = 120  # then noise on for 2 minutes, off for 2 minutes, and so on


def trained_on(manifest: dict) -> set[str] | None:
    """The mitdb records whose beats trained (or validated) a grid's models; None when unknown."""
    from benchmark.data.records import MITDB_RECORDS
    from benchmark.data.splits import DS1, DS2

    if "train_records" in manifest:
        return set(manifest["train_records"]) | set(manifest.get("validation_records", []))
    return {"intra": set(MITDB_RECORDS), "inter": set(DS1), "inter_ds2": set(DS2)}.get(manifest.get("split"))


def nstdb_records_seen(manifest: dict) -> list[str]:
    """Those of nstdb's base records (118, 119) that a grid's models saw; all of them when unknown."""
    seen = trained_on(manifest)
    return sorted(set(NSTDB_BASE_RECORDS) & seen) if seen is not None else list(NSTDB_BASE_RECORDS)


def snr_of(record: str) -> int:
    """The SNR in dB of an nstdb record: ``118e24`` → 24, ``119e_6`` → −6."""
    match = re.fullmatch(r"(\d{3})e(_?)(\d{1,2})", record)
    if not match:
        raise DataError(f"{record}: not an nstdb noise-stress record name (like 118e24 or 119e_6)")
    return -int(match.group(3)) if match.group(2) else int(match.group(3))


def base_record(record: str) -> str:
    """The mitdb record under the noise: ``118e24`` → ``118``."""
    return record[:3]


def in_noise(sample: np.ndarray, fs: float = NSTDB_FS) -> np.ndarray:
    """Whether each R peak (sample position at ``fs``) lies in one of nstdb's noisy segments."""
    seconds = np.asarray(sample, dtype=float) / fs
    after = seconds - CLEAN_SECONDS
    return (after >= 0) & (np.floor(after / SEGMENT_SECONDS) % 2 == 0)


def load_database_beats(database, data_dir=None, cache_dir=None, refresh: bool = False,
                        params: BuildParams = BuildParams(), check_record=None) -> tuple[BeatSet, str]:
    """The beats of every annotated record of a PhysioNet ``database`` (a ``records.Database``), cached like
    mitdb's, and where they came from in words; ``check_record(name)`` may refuse a record name first."""
    from benchmark.data.records import locate_records
    from benchmark.data.splits import load_beats

    source = locate_records(data_dir, cache_dir, refresh, database=database)
    for record in source.records if check_record else ():
        check_record(record)
    beats, key, cached = load_beats(source, params, cache_dir)
    return beats, f"{source.describe()}; beat set {key} ({'cache' if cached else 'built now'})"

