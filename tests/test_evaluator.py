"""Metrics against hand-computed cases and scikit-learn."""
import numpy as np
import pytest
from sklearn.metrics import f1_score, recall_score

from benchmark.metrics.evaluator import confusion_matrix, evaluate, macro_f1


def test_hand_computed_case():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    cm = confusion_matrix(y_true, y_pred, n_classes=3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    m = evaluate(y_true, y_pred, n_classes=3)
    # F1: class 0: p=1, r=2/3 -> 0.8; class 1: p=1/2, r=1/2 -> 0.5; class 2: p=1/2, r=1 -> 2/3
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)


def test_absent_class_keeps_its_row_and_scores_zero():
    m = evaluate([0, 0, 1], [0, 0, 1])  # classes 2, 3, 4 absent
    assert len(m["confusion_matrix"]) == 5 and m["recall"]["V"] == 0.0
    assert m["macro_f1"] == pytest.approx(2 / 5)
    assert m["balanced_accuracy"] == 1.0, "balanced accuracy averages over classes present"


def test_matches_scikit_learn_with_fixed_labels():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 5, 500), rng.integers(0, 4, 500)
    labels = list(range(5))
    assert macro_f1(y_true, y_pred) == pytest.approx(
        f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))
    recall = evaluate(y_true, y_pred)["recall"]
    assert list(recall.values()) == pytest.approx(
        recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0).tolist())


def test_labels_out_of_range_are_rejected():
    with pytest.raises(ValueError, match="outside 0..4"):
        confusion_matrix([0, 5], [0, 1])
