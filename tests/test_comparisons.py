"""Which cells the report compares: "best" is chosen on validation, never on the test part."""
import numpy as np
import pandas as pd

from benchmark.metrics.comparisons import compare_cells


def test_best_model_is_chosen_by_validation_not_by_test():
    rng = np.random.default_rng(0)
    y = rng.choice(5, size=600)
    good = y.copy()
    bad = np.where(rng.random(600) < 0.3, (y + 1) % 5, y)
    runs = pd.DataFrame([{"model": "a", "resampler": "none", "seed": 0, "run_id": "a"},
                         {"model": "b", "resampler": "none", "seed": 0, "run_id": "b"}])
    # a is better on test, b on validation: b is "best", and a's better test score shows as b's loss
    summary = pd.DataFrame([{"model": "a", "resampler": "none", "macro_f1_mean": 0.9, "best_val_macro_f1_mean": 0.5},
                            {"model": "b", "resampler": "none", "macro_f1_mean": 0.6, "best_val_macro_f1_mean": 0.7}])
    table = compare_cells(runs, summary, {"a": good, "b": bad}, y, ["a", "b"], ["none"], n_boot=200,
                          groups=np.repeat(np.arange(30), 20))
    row = table.iloc[0]
    assert (row.family, row.model_a, row.model_b) == ("best model vs other", "b", "a")
    assert row.difference < 0 and row.unit == "record"
