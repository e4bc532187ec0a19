"""The reproduction table: our figure in each published metric, its interval over the test records, and the
verdict against the published figure, computed from the runs."""
import re

import numpy as np
import pytest

from benchmark.metrics.evaluator import evaluate
from benchmark.metrics.stats import record_interval
from benchmark.literature import Claim, PUBLISHED_SYSTEMS
from benchmark.metrics.evaluator import metric_of
from benchmark.reporting.reproductions import budget_words, score_claim, trivial_accuracy, verdict

CLASSES = ("N", "S", "V", "F", "Q")


def _beats(seed=0, n=3000, records=20):
    rng = np.random.default_rng(seed)
    y = rng.choice(5, n, p=[0.7, 0.1, 0.1, 0.05, 0.05])
    pred = np.where(rng.random(n) < 0.8, y, rng.integers(0, 5, n))
    return y, pred, rng.integers(0, records, n)


@pytest.mark.parametrize("column", ["macro_f1", "weighted_f1", "accuracy", "recall_N", "recall_S", "recall_Q"])
def test_each_reading_is_the_evaluators_number(column):
    y, pred, groups = _beats()
    expected = evaluate(y, pred, classes=CLASSES)
    from sklearn.metrics import f1_score

    want = (f1_score(y, pred, average="weighted") if column == "weighted_f1" else
            expected[column] if column in expected else expected["recall"][column.split("_")[1]])
    value, low, high = record_interval(y, pred, groups, metric_of(column, CLASSES), 5, n_boot=500)
    assert value == pytest.approx(want, abs=1e-12)
    assert low < value < high, "twenty records leave real uncertainty"


def test_the_interval_is_seeded_resamples_records_and_refuses_misaligned_input():
    y, pred, groups = _beats()
    metric = metric_of("macro_f1", CLASSES)
    assert record_interval(y, pred, groups, metric, 5, 400, seed=3) == record_interval(y, pred, groups, metric, 5, 400, seed=3)
    value, low, high = record_interval(y, pred, np.zeros_like(groups), metric, 5, 400)
    assert low == high == pytest.approx(value), "one record: every resample is that record"
    with pytest.raises(ValueError, match="records given"):
        record_interval(y, pred, groups[:-1], metric, 5)
    with pytest.raises(KeyError, match="recall_X"):
        metric_of("recall_X", CLASSES)


def test_verdicts_follow_the_interval_and_the_budget():
    assert verdict(0.93, 0.95, 0.925, shortened=True) == "reached"
    assert verdict(0.90, 0.93, 0.925, shortened=False) == "within"
    assert verdict(0.80, 0.90, 0.925, shortened=False) == "below: does not hold here"
    assert verdict(0.80, 0.90, 0.925, shortened=True) == "below at a shortened budget: not settled"


def test_the_budget_names_what_was_shortened_and_by_how_much():
    from benchmark.config import PRESETS

    own = PRESETS["resnet_smote_enn_cyclical"].train.as_dict()
    words, shortened = budget_words({"grid": "resnet_smote_enn_cyclical", "train": own, "data": {}})
    assert not shortened and words == "the preset's own 10,000 steps"
    words, shortened = budget_words({"grid": "resnet_smote_enn_cyclical", "data": {"subset": None},
                                     "train": {**own, "steps": 2000, "eval_every": 250}})
    assert shortened and words.startswith("2,000 of 10,000 steps (20%)") and "eval_every 250 (preset" in words


def test_a_preset_grid_with_no_finished_run_yet_leaves_the_others_reproduced(tmp_path):
    from benchmark.reporting.report import write_overview
    from benchmark.store import RunStore
    from tests.synthetic_store import write_synthetic_grid

    models, resamplers = ("mlp_128_64_16",), ("none",)
    write_synthetic_grid(tmp_path, task="binary", models=models, resamplers=resamplers, split="intra",
                         name="binary_mlp_rf_noise")
    write_synthetic_grid(tmp_path, task="binary", models=models, resamplers=resamplers, split="inter",
                         name="binary_mlp_rf_noise", not_run=[(models[0], resamplers[0])])  # started, then killed
    write_synthetic_grid(tmp_path, models=("mlp",), resamplers=("none",), split="intra", name="mlp_cnn_oversampling")
    write_synthetic_grid(tmp_path, models=("cnn_lstm",), resamplers=("gmm",), split="inter", name="cnn_lstm_gmm_stats",
                         failed=[("cnn_lstm", "gmm")])  # its only run failed
    overview = write_overview(RunStore(tmp_path)).read_text()
    section = overview.split("## The published systems, reproduced")[1]
    assert re.search(r"inter/cnn_lstm_gmm_stats[-\w]*: no finished run[;.]", overview)  # not an empty list
    assert "| `binary_mlp_rf_noise` | intra" in section and "| `binary_mlp_rf_noise` | inter" not in section
    assert "- `cnn_lstm_gmm_stats` on inter: no reading, cnn_lstm / gmm failed: gmm needs more beats" in section
    # a project that states no number gets no range of ours: its figure is "—", its verdict "not comparable"
    assert re.search(r"\| macro F1: — +\| macro F1: 0\.\d{3} \[0\.\d{3}, [01]\.\d{3}\] +\| not comparable +\|",
                     section), section
    assert "0.63-0.81" not in section and "- `mlp_cnn_oversampling` not comparable: its README states no number" in section
    assert re.search(r"accuracy: \d+\.\d% \[[\d.]+%, [\d.]+%\]; all-normal: \d+\.\d%", section)
    assert '"Deep CNN models consistently outperform the Baseline Neural Networks"' in section


def test_accuracy_stands_beside_the_all_majority_classifier():
    y = np.array([0] * 828 + [1] * 100 + [2] * 72)
    assert trivial_accuracy(y, CLASSES) == ("N", 0.828)


def test_figures_our_runs_cannot_test_say_so_and_why():
    systems = {p.preset: p for p in PUBLISHED_SYSTEMS}
    assert "validation accuracy" in systems["resnet_smote_enn_cyclical"].not_comparable
    assert "no average" in systems["lstm_first140_oversampled"].not_comparable
    assert "untuned" in systems["lstm_first140_oversampled"].not_comparable
    assert systems["mlp_cnn_oversampling"].bounds is None and systems["mlp_cnn_oversampling"].value == "—"
    assert not systems["cnn_lstm_gmm_stats"].not_comparable  # a test accuracy on the Kaggle beats: tested


def _claim_grid(better_acc: float, worse_acc: float, seeds=(0,)):
    """A preset-like grid in memory: model 'cnn' right on ``better_acc`` of the beats, 'mlp' on ``worse_acc``."""
    import pandas as pd
    from types import SimpleNamespace

    from benchmark.reporting.analysis import primary_score
    from benchmark.tasks import get_task

    rng = np.random.default_rng(1)
    y = rng.choice(5, 2000, p=[0.6, 0.1, 0.1, 0.1, 0.1])
    records = np.array([f"{100 + i % 20}" for i in range(len(y))])
    runs, predictions = [], {}
    for model, acc in (("cnn", better_acc), ("mlp", worse_acc)):
        for resampler in ("none", "random"):
            for seed in seeds:
                run_id = f"{model}-{resampler}-{seed}"
                predictions[run_id] = np.where(rng.random(len(y)) < acc, y, rng.integers(0, 5, len(y)))
                runs.append({"model": model, "resampler": resampler, "seed": seed, "run_id": run_id})
    task = get_task("aami5")
    return SimpleNamespace(runs=pd.DataFrame(runs), predictions=predictions, y_true=y, task=task,
                           score=primary_score("intra", task), store=SimpleNamespace(test_records=lambda: records))


def test_a_claim_holds_is_contradicted_or_not_shown_by_the_paired_tests():
    claim = Claim("the CNN beats the MLP", "model", "cnn", ("mlp",))
    held = score_claim(_claim_grid(0.9, 0.5), claim)
    assert held["verdict"] == "holds" and held["gains"] == 2 and set(held["tests"].block) == {"none", "random"}
    assert score_claim(_claim_grid(0.5, 0.9), claim)["verdict"] == "contradicted"
    tied = _claim_grid(0.8, 0.8)
    for resampler in ("none", "random"):  # the same predictions: no difference at all
        tied.predictions[f"mlp-{resampler}-0"] = tied.predictions[f"cnn-{resampler}-0"]
    assert score_claim(tied, claim)["verdict"] == "not shown"
