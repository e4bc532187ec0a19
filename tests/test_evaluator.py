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


def test_per_class_keys_are_the_tasks_class_names():
    from benchmark.tasks import get_task

    binary = get_task("binary")
    m = evaluate([0, 1, 1], [0, 1, 0], classes=binary.classes)
    assert list(m["recall"]) == ["normal", "abnormal"] and m["recall"]["abnormal"] == 0.5
    assert len(m["confusion_matrix"]) == 2
    with pytest.raises(ValueError, match="n_classes 5 and 2 class names"):
        evaluate([0, 1], [0, 1], n_classes=5, classes=binary.classes)


def test_auroc_matches_scikit_learn_with_ties_averaged():
    from sklearn.metrics import roc_auc_score

    from benchmark.metrics.evaluator import auroc

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    scores = np.round(rng.uniform(size=400) + 0.3 * y, 1)  # rounded: many ties
    assert auroc(y, scores) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    assert auroc([0, 1, 1, 0], [0.1, 0.9, 0.5, 0.5]) == pytest.approx(0.875)  # the 0.5 tie counts half
    assert auroc([1, 1], [0.2, 0.3]) is None, "one class only: no ROC curve"


def test_binary_metrics_are_recalls_of_each_label_and_the_positive_probabilitys_auroc():
    from benchmark.metrics.evaluator import binary_metrics

    y, pred = np.array([0, 0, 0, 1, 1]), np.array([0, 0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7], [0.6, 0.4]], np.float16)
    m = binary_metrics(y, proba, pred)
    assert m["sensitivity"] == pytest.approx(1 / 2) and m["specificity"] == pytest.approx(2 / 3)
    assert m["auroc"] == pytest.approx(5 / 6)  # positives 0.7, 0.4 against negatives 0.1, 0.2, 0.6
    assert binary_metrics(y, None, pred)["auroc"] is None
