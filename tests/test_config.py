"""The configuration rejects a budget no run could train with, however the grid was built."""
import pytest

from benchmark.config import GRIDS, TrainConfig, customise


@pytest.mark.parametrize("field", ["steps", "batch_size", "eval_every", "patience", "lr_decay_steps"])
@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_a_budget_count_below_one_or_not_whole_is_refused_by_name(field, value):
    with pytest.raises(ValueError, match=rf"TrainConfig\.{field} must be a whole number of at least 1, got"):
        TrainConfig(**{field: value})


def test_a_grid_customised_in_python_is_checked_too():
    with pytest.raises(ValueError, match=r"TrainConfig\.eval_every"):
        customise(GRIDS["smoke"], eval_every=0)
    assert customise(GRIDS["smoke"], steps=1).train.steps == 1
