"""The target of a transfer: another database's beats, labelled in the task its models are trained for and built
into the input its grid's models read (``benchmark.data.inputs``), with the unit a split keeps whole.

Two kinds: a database of the external registry (``benchmark.external``: svdb, nstdb), whose beats carry their
record and R-peak positions, so the split is by patient and RR features can be built; and a folder of
Kaggle-layout CSVs with a binary label (PTB's ``ptbdb_normal.csv`` / ``ptbdb_abnormal.csv``: 187 samples at
125 Hz and a last column, 0 normal, 1 abnormal), which hold single beats without records or positions, so
they are split by beat and refused to a grid trained with RR features.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.data.beats import BeatSet, concat
from benchmark.data.inputs import inputs_of, with_inputs
from benchmark.errors import DataError
from benchmark.tasks import Task, get_task, task_of

log = logging.getLogger(__name__)
CSV_TASK = "binary"  # a CSV target's labels: 0 normal, 1 abnormal


@dataclass
class Target:
    """The beats a grid's models are carried to. ``beats.x``: the model input; ``units``: the unit of every beat
    a split keeps on one side (its patient, or the beat itself, ``unit`` "beat", for a set without records)."""

    name: str  # the target's folder under <grid>/transfer/ (before any split suffix)
    beats: BeatSet
    units: np.ndarray
    unit: str
    task: Task
    source: str  # where the beats came from, in words
    description: str  # what the target is, in words

    def test_records(self, mask: np.ndarray) -> np.ndarray:
        """What the store keeps as the record of each test beat: its patient, or (split by beat) its file."""
        return self.units[mask] if self.unit == "record" else self.beats.record[mask]


def external_target(name: str, manifest: dict, data_dir=None, cache_dir=None, refresh: bool = False) -> Target:
    """A database of the external registry, its beats relabelled for the grid's task and built into its input;
    refused, by the registry's fairness rule, for a grid whose models saw its patients."""
    from benchmark.data.splits import relabelled
    from benchmark.external import get_external, load_external

    entry = get_external(name)
    reason = entry.refused(manifest)
    if reason:
        raise DataError(f"transfer to {name}: {reason}")
    task = task_of(manifest)
    beats, source = load_external(name, data_dir, cache_dir, refresh)
    beats = with_inputs(relabelled(beats, task), inputs_of(manifest), f"{name}'s beats")
    units = np.array(entry.patients(beats.record.tolist()), dtype=str)
    return Target(name, beats, units, "record", task, source, entry.help)


def csv_target(directory, manifest: dict) -> Target:
    """Every ``*.csv`` in ``directory``: Kaggle-layout beats with a binary label (0 normal, 1 abnormal)."""
    from benchmark.data.splits import read_kaggle_csv

    directory = Path(directory)
    inputs = inputs_of(manifest)
    if inputs.rr:
        raise DataError(f"{directory}: this grid's models read RR-interval features (it was trained with --rr), which "
                        "need each beat's R-peak position in its recording; Kaggle-layout CSVs hold single beats "
                        "without positions. Transfer a grid trained without --rr, or a database of the registry "
                        "(--to svdb)")
    if not directory.is_dir():
        raise DataError(f"{directory}: not a folder; --to-csv names a folder of Kaggle-layout CSVs such as "
                        "ptbdb_normal.csv and ptbdb_abnormal.csv")
    files = sorted(directory.glob("*.csv"))
    if not files:
        raise DataError(f"{directory}: no .csv files; --to-csv names a folder of Kaggle-layout CSVs (187 samples and "
                        "a last column, 0 normal and 1 abnormal) such as ptbdb_normal.csv and ptbdb_abnormal.csv")
    parts = []
    for path in files:
        beats = read_kaggle_csv(path)
        wrong = np.flatnonzero(beats.y > 1)
        if len(wrong):
            raise DataError(f"{path}: label {int(beats.y[wrong[0]])} at row {wrong[0] + 1}; a binary target's last "
                            "column is 0 (normal) or 1 (abnormal), as in ptbdb_normal.csv / ptbdb_abnormal.csv")
        parts.append(beats)
    beats = concat(parts)
    missing = [name for label, name in enumerate(get_task(CSV_TASK).classes) if not (beats.y == label).any()]
    if missing:
        raise DataError(f"{directory}: no {' or '.join(missing)} beats in {', '.join(f.name for f in files)}; a binary "
                        "target needs both labels (0 normal, 1 abnormal)")
    beats = with_inputs(beats, inputs, f"the beats of {directory}")
    units = np.array([f"{record}:{row}" for record, row in zip(beats.record, beats.sample)], dtype=str)
    counts = np.bincount(beats.y, minlength=2)
    source = (f"{len(beats):,} beats in {', '.join(f.name for f in files)} of {directory} "
              f"({counts[0]:,} normal, {counts[1]:,} abnormal)")
    log.warning("%s: its CSVs hold single beats, no records (patients): the target is split by beat, stratified by "
                "class, so beats of one patient may fall on several sides and its tests are over beats", directory)
    return Target(f"csv-{directory.resolve().name}", beats, units, "beat", get_task(CSV_TASK), source,
                  f"the Kaggle-layout binary CSVs of {directory.resolve().name} (normal against abnormal)")
