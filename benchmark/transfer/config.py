"""The settings of a transfer, frozen: which strategies at which fractions of the target's fine-tuning part,
how the target's records are split, and the training budget of every run that trains.

The budget is the grid's (batch size, validation interval, patience, learning-rate schedule) with its own step
count, smaller by default because a target part is smaller than a grid's training part; fine-tuning starts
from trained weights, so its learning rate is the grid's times ``fine_tune_lr`` (0.1). The frozen strategy
trains a fresh head at the grid's rate, and from-scratch runs train at the grid's rate too.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from benchmark.config import TrainConfig
from benchmark.data.splits import SPLIT_SEED

STRATEGIES = ("zero_shot", "fine_tune", "frozen", "scratch")
FROM_SOURCE = ("fine_tune", "frozen")  # start from the saved model's weights
TRAINED = ("fine_tune", "frozen", "scratch")  # train on the target's fine-tuning part
STRATEGY_WORDS = {"zero_shot": "zero-shot", "fine_tune": "fine-tuned", "frozen": "frozen features",
                  "scratch": "from scratch"}
TREAT_TARGET = ("both", "yes", "no")  # the source run's treatment on the target's fine-tuning part: both ways, or one
PARTS = ("fine_tune", "validation", "test")


@dataclass(frozen=True)
class TransferConfig:
    """What a transfer runs (module docstring).

    ``fractions``: shares of the fine-tuning part's records, ascending, each in (0, 1]; nested (a smaller
    fraction's records are among a larger one's). ``parts``: the shares of the target's records (patients) in
    the fine-tuning, validation and test parts. ``treat_target``: "yes" applies the source run's treatment
    (its resampler or loss weighting) to the target's fine-tuning part too, "no" trains on it as it is, "both"
    runs both. ``steps``, ``eval_every``, ``patience``: the budget of every trained run (None: the grid's).
    """

    fractions: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0)
    strategies: tuple[str, ...] = STRATEGIES
    steps: int = 1000
    eval_every: int | None = None
    patience: int | None = None
    fine_tune_lr: float = 0.1
    parts: tuple[float, float, float] = (0.6, 0.2, 0.2)
    split_seed: int = SPLIT_SEED
    treat_target: str = "both"

    def __post_init__(self):
        if not self.fractions or any(not 0 < f <= 1 for f in self.fractions) \
                or list(self.fractions) != sorted(set(self.fractions)):
            raise ValueError(f"TransferConfig.fractions must be distinct shares in (0, 1], ascending; got "
                             f"{self.fractions!r} (e.g. 0.05 0.1 0.25 0.5 1)")
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown or not self.strategies or len(set(self.strategies)) != len(self.strategies):
            raise ValueError(f"TransferConfig.strategies: {self.strategies!r}; give distinct ones of "
                             f"{', '.join(STRATEGIES)}")
        if len(self.parts) != 3 or any(not 0 < p < 1 for p in self.parts) or abs(sum(self.parts) - 1) > 1e-9:
            raise ValueError(f"TransferConfig.parts: the fine-tuning, validation and test shares must each lie in "
                             f"(0, 1) and sum to 1; got {self.parts!r} (e.g. 0.6 0.2 0.2)")
        if not 0 < self.fine_tune_lr < float("inf"):
            raise ValueError(f"TransferConfig.fine_tune_lr must be a positive factor, got {self.fine_tune_lr!r}")
        if self.treat_target not in TREAT_TARGET:
            raise ValueError(f"TransferConfig.treat_target must be one of {', '.join(TREAT_TARGET)}, got "
                             f"{self.treat_target!r}")
        for name in ("steps", "eval_every", "patience"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"TransferConfig.{name} must be a whole number of at least 1, got {value!r}")

    def train_config(self, grid: TrainConfig, strategy: str) -> TrainConfig:
        """The budget of a ``strategy`` run: the grid's, with this transfer's steps (and checks, where given);
        fine-tuning's learning rates (the step decay's, or the triangular bounds) times ``fine_tune_lr``."""
        cfg = replace(grid, steps=self.steps, eval_every=self.eval_every or grid.eval_every,
                      patience=self.patience or grid.patience)
        if strategy == "fine_tune":
            f = self.fine_tune_lr
            cfg = replace(cfg, learning_rate=grid.learning_rate * f, lr_min=grid.lr_min * f, lr_max=grid.lr_max * f)
        return cfg

    def treatments(self, source_treatment: str) -> tuple[str, ...]:
        """The treatments of the target's fine-tuning part a source run trained under ``source_treatment`` gets:
        its own ("yes"), none ("no"), or both; a source without treatment gets "none" once."""
        wanted = {"yes": (source_treatment,), "no": ("none",), "both": (source_treatment, "none")}[self.treat_target]
        return tuple(dict.fromkeys(wanted))

    def split_dict(self) -> dict:
        """What makes the target's split (and so its test part): its shares and its seed."""
        return {"parts": list(self.parts), "split_seed": self.split_seed}

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def fraction_tag(fraction: float) -> str:
    """A fraction as a run id writes it: 0.05 → ``f0.05``, 1.0 → ``f1``."""
    return f"f{fraction:g}"
