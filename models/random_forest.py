"""Random forest on the flat beat (the binary-classification project's traditional baseline).

scikit-learn's ``RandomForestClassifier``; its settings are its hyperparameters (recorded in the run's
identity), and class weighting is off by default so that the treatments, not the model, handle imbalance.
"""
from sklearn.ensemble import RandomForestClassifier

from benchmark.search_space import Choice, IntRange
from models.registry import register_model

SEARCH_SPACE = {"n_estimators": IntRange(50, 300, step=50), "max_depth": Choice((0, 10, 20, 40)),
                "min_samples_leaf": IntRange(1, 8),
                "class_weight": Choice(("none", "balanced", "balanced_subsample"))}  # n_jobs changes no result


@register_model(estimator="sklearn", search_space=SEARCH_SPACE)
def random_forest(input_shape, n_classes, seed, n_estimators=100, max_depth=0, min_samples_leaf=1,
                  class_weight="none", n_jobs=-1):
    """``max_depth`` 0: grown until the leaves are pure; ``class_weight``: "none", "balanced" or
    "balanced_subsample"."""
    return RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth or None,
                                  min_samples_leaf=min_samples_leaf,
                                  class_weight=None if class_weight == "none" else class_weight,
                                  n_jobs=n_jobs, random_state=seed)
