"""A study's search space: the model's hyperparameters (declared beside its builder), its training settings
(``benchmark.config.TRAIN_SEARCH_SPACE``, for models trained for steps) and, when asked, the treatment's
parameters (declared beside its factory), under one prefixed name each: ``model.units``,
``train.learning_rate``, ``treatment.k_neighbors``. Pinned values (``--fix``) leave the space and join every
trial. A point of the space resolves to the settings one trial trains with (:meth:`StudySpace.settings`), the
same function for every executor and for the tuned-settings file, so what was scored is what a grid runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from benchmark.config import TRAIN_SEARCH_SPACE, TUNABLE_TRAIN_FIELDS, TrainConfig, tuned_training
from benchmark.search_space import Choice, Dimension, FloatRange, IntRange, check_space, rounded

PREFIXES = ("model", "train", "treatment")


class SpaceError(ValueError):
    """A search space that cannot be tuned as asked (no space declared, an unknown name, nothing left)."""


@dataclass(frozen=True)
class TrialSettings:
    """What one trial trains with: builder hyperparameters, training, and the treatment's full name."""

    hyperparameters: dict
    train_fields: dict  # the TrainConfig fields the point sets (tuned_training), on top of the grid's budget
    train: TrainConfig
    resampler: str
    treatment_params: dict = field(default_factory=dict)

    def record(self) -> dict:
        """The settings as a trial records them (and as the tuned-settings file gets them)."""
        return {"hyperparameters": self.hyperparameters, "train": self.train_fields, "resampler": self.resampler,
                "treatment": self.treatment_params}


@dataclass(frozen=True)
class StudySpace:
    """The dimensions a study samples, the defaults they start from, and the pinned values."""

    model: str
    resampler: str
    base_train: TrainConfig
    dimensions: dict  # {prefixed name: Dimension}
    defaults: dict  # {prefixed name: the untuned value}
    fixed: dict  # {prefixed name: pinned value}

    @classmethod
    def build(cls, model: str, resampler: str, base_train: TrainConfig, fixed: dict | None = None,
              tune_treatment: bool = False) -> "StudySpace":
        """The space of ``model`` trained on ``resampler`` under the grid's budget ``base_train``; ``fixed``:
        {prefixed name: value} pinned; ``tune_treatment``: the treatment's declared parameters join."""
        from benchmark.estimators import estimator_class
        from models import builder_arguments, model_search_space
        from resampling import treatment_search_space
        from resampling.registry import parse_name

        space = model_search_space(model)
        if space is None:
            raise SpaceError(f"model {model!r} declares no search space, so it cannot be tuned; give its "
                             "@register_model a search_space={...} beside its builder ({} if it has nothing to tune "
                             "but its training)")
        dimensions = {f"model.{k}": v for k, v in space.items()}
        defaults = {f"model.{k}": v for k, v in builder_arguments(model).items()}
        if estimator_class(model).uses_steps:
            own = {"learning_rate": base_train.lr_max if base_train.lr_schedule == "triangular"
                   else base_train.learning_rate, "batch_size": base_train.batch_size,
                   "lr_schedule": base_train.lr_schedule}
            train_space = {k: _with_value(d, own[k]) for k, d in TRAIN_SEARCH_SPACE.items()}
            dimensions.update({f"train.{k}": v for k, v in check_space(train_space, own, "training").items()})
            defaults.update({f"train.{k}": getattr(base_train, k) for k in TUNABLE_TRAIN_FIELDS})
            defaults.update({f"train.{k}": v for k, v in own.items()})
        treatment_space, treatment_defaults = treatment_search_space(resampler)
        if treatment_space is not None:  # a treatment that declares a space has parameters to tune or pin
            defaults.update({f"treatment.{k}": v for k, v in treatment_defaults.items()})
        if tune_treatment:
            if treatment_space is None:
                raise SpaceError(f"treatment {resampler!r} declares no search space, so --tune-treatment has "
                                 "nothing to tune; give its @register_resampler a search_space={...}")
            named = parse_name(resampler)[1]  # what the name sets stays as named
            dimensions.update({f"treatment.{k}": v for k, v in treatment_space.items() if k not in named})
        fixed = dict(fixed or {})
        unknown = sorted(set(fixed) - set(defaults))
        if unknown:
            raise SpaceError(f"--fix {', '.join(unknown)}: not a parameter of this study (model {model!r}, treatment "
                             f"{resampler!r}); known: {', '.join(sorted(defaults))}")
        dimensions = {k: v for k, v in dimensions.items() if k not in fixed}
        if not dimensions:
            raise SpaceError(f"model {model!r} on {resampler!r}: nothing left to tune (its space is empty or every "
                             "dimension is fixed)")
        return cls(model, resampler, base_train, dimensions, defaults, fixed)

    def default_point(self) -> dict:
        """The untuned setting as a point of the space (the study's first trial)."""
        return {k: self.defaults[k] for k in self.dimensions}

    def settings(self, point: dict) -> TrialSettings:
        """The settings a trial at ``point`` (values of the dimensions) trains with, pinned values added."""
        from resampling.registry import canonical_name, parse_name

        values = {k: rounded(v) for k, v in {**point, **self.fixed}.items()}
        unknown = sorted(set(values) - set(self.defaults))
        if unknown:
            raise SpaceError(f"{', '.join(unknown)}: not parameters of this study; known: {', '.join(self.defaults)}")
        part = {p: {k.partition(".")[2]: v for k, v in values.items() if k.startswith(p + ".")} for p in PREFIXES}
        train_fields = tuned_training(part["train"], self.base_train)
        base, named = parse_name(self.resampler)
        # a value the sampler has anyway leaves the name as it is, so the untuned point trains the grid's treatment
        treatment = {**named, **{k: v for k, v in part["treatment"].items() if v != self.defaults[f"treatment.{k}"]}}
        resampler = canonical_name(base + ("[" + ",".join(f"{k}={v}" for k, v in treatment.items()) + "]"
                                           if treatment else ""))
        return TrialSettings(part["model"], train_fields, replace(self.base_train, **train_fields), resampler,
                             part["treatment"])

    def distributions(self) -> dict:
        """The dimensions as Optuna distributions (Optuna imported here, only when a study runs)."""
        import optuna.distributions as d

        def one(dim: Dimension):
            if isinstance(dim, Choice):
                return d.CategoricalDistribution(dim.values)
            if isinstance(dim, IntRange):
                return d.IntDistribution(dim.low, dim.high, step=dim.step, log=dim.log)
            return d.FloatDistribution(dim.low, dim.high, log=dim.log, step=dim.step)
        return {k: one(v) for k, v in self.dimensions.items()}

    def grid(self) -> dict:
        """The values a grid search tries of each dimension (the default among them)."""
        return {k: list(v.grid(self.defaults.get(k))) for k, v in self.dimensions.items()}

    def grid_size(self) -> int:
        size = 1
        for values in self.grid().values():
            size *= len(values)
        return size

    def describe(self) -> dict:
        """What names the space in a study's identity."""
        return {"dimensions": {k: repr(v) for k, v in sorted(self.dimensions.items())},
                "fixed": dict(sorted(self.fixed.items())), "defaults": dict(sorted(self.default_point().items()))}


def _with_value(dimension: Dimension, value) -> Dimension:
    """A training dimension that holds the grid's own value: a choice gains it, a range is left to say so."""
    if isinstance(dimension, Choice) and not dimension.contains(value):
        return Choice(tuple(sorted({*dimension.values, value}, key=str)))
    return dimension


def parse_fixed(items: list[str] | None) -> dict:
    """``--fix NAME=VALUE`` items as {name: value} (values read as a resampler's parameters are: bool, none,
    int, float, else text)."""
    from resampling.registry import _value

    fixed = {}
    for item in items or ():
        name, eq, value = item.partition("=")
        if not eq or name.partition(".")[0] not in PREFIXES or not name.partition(".")[2]:
            raise SpaceError(f"--fix {item!r} is not PREFIX.NAME=VALUE with PREFIX one of {', '.join(PREFIXES)} "
                             "(e.g. train.batch_size=128, model.bidirectional=false)")
        fixed[name.strip()] = _value(value.strip())
    return fixed


__all__ = ["FloatRange", "SpaceError", "StudySpace", "TrialSettings", "parse_fixed"]
