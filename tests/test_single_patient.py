"""Classes one test patient carries (DS2: record 232 holds 75% of the S beats, 213 93% of the F beats): found,
and their Se and +P shown with the record left out beside the whole."""
from types import SimpleNamespace

import numpy as np
import pandas as pd

from benchmark.reporting.tables import class_carriers, se_ppv, single_patient_section
from benchmark.tasks import get_task

CLASSES = get_task("aami5").classes


def test_a_record_holding_half_a_class_or_more_carries_it():
    y = np.array([0] * 10 + [1] * 4 + [3] * 3)
    records = np.array(["100", "101", "102"] * 3 + ["103"] + ["232", "232", "232", "101"] + ["213", "101", "102"])
    assert class_carriers(y, records, CLASSES, ("N", "S", "V", "F")) == [("S", "232", 3, 4)]
    assert class_carriers(y, records, CLASSES, ("N", "V", "F")) == []  # S not reported: not looked at


def test_se_and_ppv():
    y, pred = np.array([1, 1, 1, 0, 0]), np.array([1, 0, 1, 1, 0])
    assert se_ppv(y, pred, 1) == (2 / 3, 2 / 3)
    se, ppv = se_ppv(y, np.zeros(5, int), 1)
    assert se == 0 and np.isnan(ppv)


def test_the_section_shows_each_carried_class_without_its_record():
    # S: 4 beats of record 232, 1 of record 101; the model finds 232's S beats, misses 101's
    y = np.array([0] * 6 + [1] * 5)
    records = np.array(["100", "100", "101", "101", "102", "102", "232", "232", "232", "232", "101"])
    pred = np.array([0] * 6 + [1, 1, 1, 1, 0])
    grid = SimpleNamespace(store=SimpleNamespace(test_records=lambda: records), y_true=y,
                           task=get_task("aami5"), predictions={"a": pred, "b": pred},
                           runs=pd.DataFrame({"model": ["mlp", "mlp"], "resampler": ["none", "none"],
                                              "run_id": ["a", "b"]}))
    text = "\n".join(single_patient_section(grid))
    assert "record 232 holds 4 of the 5 test S beats (80%)" in text
    assert "Se S: all / without 232" in text and "+P S: all / without 232" in text
    row = [line for line in text.splitlines() if line.startswith("| mlp")][0]
    assert "| 0.800 / 0.000 " in row  # Se, all: 4 of 5 found; without 232: 0 of 1
    assert "| 1.000 / — " in row  # +P, all: 4 of 4 right; without 232 no beat is called S: undefined
    grid.store = SimpleNamespace(test_records=lambda: np.array(["100", "101", "102"] * 3 + ["103", "104"]))
    assert single_patient_section(grid) == []  # no record carries a class
