"""Collapsed runs are found, with their cause, and kept out of the reading's treatment effects."""
import re
from pathlib import Path

import numpy as np

from benchmark.metrics.collapse import collapse_reason, majority_level, weight_spread

CLASSES = ("N", "S", "V", "F", "Q")
INTER_TRAIN = {"N": 45_000, "S": 900, "V": 3_700, "F": 400, "Q": 8}


def test_predicting_one_class_everywhere_is_a_collapse_with_its_weight_spread():
    metrics = {"resampler": "class_weight", "seed": 0, "best_val_macro_f1": 0.5,
               "resampling": {"train_class_counts": INTER_TRAIN}}
    why = collapse_reason(metrics, np.zeros(100, np.int8), CLASSES, None)
    assert why.startswith("predicts N for every test beat")
    assert "8 training Q beats 5,625× the weight of one N beat" in why, why  # 45,000 / 8


def test_a_validation_score_never_above_the_all_majority_level_is_a_collapse():
    name, level = majority_level({"N": 90, "S": 10, "V": 0, "F": 0, "Q": 0})
    assert name == "N" and np.isclose(level, (2 * 0.9 / 1.9) / 5)
    metrics = {"resampler": "none", "seed": 0, "best_val_macro_f1": level,
               "resampling": {"train_class_counts": INTER_TRAIN}}
    varied = np.array([0, 1, 2, 0, 0], np.int8)
    assert "never rose above" in collapse_reason(metrics, varied, CLASSES, {"N": 90, "S": 10, "V": 0, "F": 0, "Q": 0})
    assert collapse_reason({**metrics, "best_val_macro_f1": level + 0.01}, varied, CLASSES,
                           {"N": 90, "S": 10, "V": 0, "F": 0, "Q": 0}) is None
    assert weight_spread("none", 0, INTER_TRAIN) is None, "no loss weights, no weight spread"


def test_the_reading_counts_a_collapse_as_its_treatments_result_and_shows_the_tally_without_it_beside(tmp_path):
    """#39: a collapse the treatment causes is its loss, counted as one; the comparison without it is shown beside,
    never in its place (it was once left out of the gains and losses)."""
    from benchmark.reporting.report import write_report
    from benchmark.store import RunStore
    from tests.synthetic_store import write_synthetic_grid

    store = write_synthetic_grid(tmp_path, resamplers=("none", "random", "class_weight"),
                                 collapse=("mlp", "class_weight"))
    write_report(RunStore(tmp_path).grid(store.split, store.name))
    report = (store.path / "REPORT.md").read_text()
    assert "## Collapsed runs" in report and "mlp × class_weight, seed 0: predicts N for every test beat" in report
    reading = report[report.index("## Reading"):report.index("## Macro F1")]
    gains_losses = [line for line in reading.splitlines() if line.startswith("- Significant")]
    assert gains_losses and all("without a collapsed run" in line for line in gains_losses)
    verdicts = [line for line in reading.splitlines() if line.startswith(("- Significant", "- No evidence"))]
    assert any("mlp × class_weight" in line for line in verdicts)  # counted, whatever its verdict
    assert re.search(r"Counted above as results.*mlp × class_weight \((loss|gain|no evidence); collapsed: "
                     r"class_weight\)", reading)
