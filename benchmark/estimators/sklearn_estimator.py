"""The scikit-learn estimator: a registered classifier fitted once on the flat beats (n, length).

Its budget is its own hyperparameters (trees, depth, ...), not the grid's optimizer steps, which do not
apply to it (``uses_steps`` is False, and the report says so). Validation macro F1 is measured once, after
the fit, so its runs report it like any other. Saved with skops (``.skops``), never a pickle: loading
accepts only scikit-learn's and NumPy's own types, so a file from elsewhere cannot run code.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmark.estimators.base import Estimator, MemberRecord, training_report
from benchmark.errors import DataError
from benchmark.metrics.evaluator import macro_f1

TRUSTED_MODULES = ("sklearn.", "numpy.", "builtins.")  # what a saved model may hold


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).astype(np.float32, copy=False)


def n_parameters(model) -> int:
    """What a fitted model learned, counted: the nodes of its trees, else the sizes of its fitted arrays."""
    trees = getattr(model, "estimators_", None)
    if trees is not None and all(hasattr(t, "tree_") for t in np.ravel(trees)):
        return int(sum(t.tree_.node_count for t in np.ravel(trees)))
    if hasattr(model, "tree_"):
        return int(model.tree_.node_count)
    return int(sum(np.size(v) for k, v in vars(model).items() if k.endswith("_") and isinstance(v, np.ndarray)))


class SklearnEstimator(Estimator):
    kind, packable, uses_steps, suffix = "sklearn", False, False, ".skops"

    def __init__(self, model_name, input_shape, n_classes, seed, model=None, features=0, hyperparameters=None):
        super().__init__(model_name, input_shape, n_classes, seed, features, hyperparameters)
        self.model = model

    def fit(self, x, y, weights, val_x, val_y, cfg, jit_compile=False, on_check=None, control=None) -> dict:
        # one fit, no checks: nothing to checkpoint, stop or predict part-way (``control`` is for stepped models)
        from models import build_model

        self.model = build_model(self.model_name, input_shape=self.input_shape, n_classes=self.n_classes,
                                 seed=self.seed, **self.hyperparameters)
        start = time.perf_counter()
        self.model.fit(_flat(x), y, **({} if weights is None else {"sample_weight": weights}))
        train = time.perf_counter() - start
        start = time.perf_counter()
        val_f1 = macro_f1(val_y, np.argmax(self.predict_proba(val_x), axis=1), self.n_classes)
        record = MemberRecord(history=[{"step": 0, "train_loss": None, "val_macro_f1": val_f1}],
                              best_val_macro_f1=val_f1)
        times = {"train": train, "validation": time.perf_counter() - start}
        if on_check is not None:  # its one check: nothing is left to stop
            on_check(0, val_f1)
        report = training_report(record, cfg, 0, n_parameters(self.model), times)
        report["stopped_early"] = False
        report["budget"] = "its own hyperparameters (a scikit-learn model takes no optimizer steps)"
        return report

    def predict_proba(self, x):
        proba = self.model.predict_proba(_flat(x))
        out = np.zeros((len(x), self.n_classes), np.float32)
        out[:, np.asarray(self.model.classes_, dtype=np.int64)] = proba  # a class absent from training: 0
        return out

    def save(self) -> bytes:
        import skops.io as sio

        return sio.dumps(self.model)

    @classmethod
    def load(cls, model_name, path, n_classes=None):
        import skops.io as sio

        path = Path(path)
        untrusted = sio.get_untrusted_types(file=path)
        foreign = [t for t in untrusted if not t.startswith(TRUSTED_MODULES)]
        if foreign:
            raise DataError(f"{path}: holds types that are not scikit-learn's or NumPy's ({', '.join(foreign)}); "
                            "refusing to load it")
        model = sio.load(path, trusted=untrusted)
        n_features = int(getattr(model, "n_features_in_", 0))
        n_classes = n_classes or int(max(model.classes_)) + 1
        return cls(model_name, (n_features, 1), n_classes, seed=0, model=model)
