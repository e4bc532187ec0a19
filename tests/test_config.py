"""The configuration rejects a budget no run could train with, however the grid was built."""
import pytest

from benchmark.config import GRIDS, TrainConfig, customise


@pytest.mark.parametrize("field", ["steps", "batch_size", "eval_every", "patience", "lr_decay_steps",
                                   "lr_cycle_steps"])
@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_a_budget_count_below_one_or_not_whole_is_refused_by_name(field, value):
    with pytest.raises(ValueError, match=rf"TrainConfig\.{field} must be a whole number of at least 1, got"):
        TrainConfig(**{field: value})


def test_a_grid_customised_in_python_is_checked_too():
    with pytest.raises(ValueError, match=r"TrainConfig\.eval_every"):
        customise(GRIDS["smoke"], eval_every=0)
    assert customise(GRIDS["smoke"], steps=1).train.steps == 1


def test_the_step_schedules_identity_is_what_it_was_before_the_cyclical_schedule():
    # the run identities (and so the committed runs) of every step-decay grid stay what they were
    assert list(TrainConfig().as_dict()) == ["steps", "batch_size", "eval_every", "patience", "learning_rate",
                                             "lr_decay", "lr_decay_steps"]
    triangular = TrainConfig(lr_schedule="triangular").as_dict()
    assert triangular["lr_schedule"] == "triangular" and {"lr_min", "lr_max", "lr_cycle_steps"} <= set(triangular)
    assert TrainConfig(lr_schedule="triangular", lr_max=2e-3).as_dict() != triangular


@pytest.mark.parametrize("settings, words", [({"lr_schedule": "cosine"}, "lr_schedule must be one of"),
                                             ({"lr_min": 1e-2, "lr_max": 1e-3}, "lr_min <= lr_max"),
                                             ({"lr_min": 0.0, "lr_max": 0.0}, "lr_max > 0"),
                                             ({"lr_cycle_steps": 0}, "lr_cycle_steps must be a whole number")])
def test_a_schedule_no_run_could_follow_is_refused(settings, words):
    with pytest.raises(ValueError, match=words):
        TrainConfig(**settings)
